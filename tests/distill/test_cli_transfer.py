"""`fit --unlabeled FILE --grow PRESET --grow-rows N`: the flags land in RunConfig's data and transfer sections."""
from __future__ import annotations

import pytest

from distill.cli import build_parser, config_from_args


def test_it_maps_the_unlabelled_file_and_the_grow_flags_into_the_config() -> None:
    args = build_parser().parse_args(["fit", "--train", "reviews.csv", "--unlabeled", "more.txt", "--grow", "heavy",
                                      "--grow-rows", "20000", "--set", 'transfer.methods=["mask", "ngram"]'])
    cfg = config_from_args(args)
    assert cfg.data.unlabeled_path == "more.txt"
    assert (cfg.transfer.preset, cfg.transfer.target_rows, cfg.transfer.methods) == ("heavy", 20_000, ["mask", "ngram"])
    resolved = cfg.transfer.resolved()
    assert resolved.enabled and (resolved.target_rows, resolved.methods) == (20_000, ["mask", "ngram"])


def test_without_the_flags_nothing_is_grown_and_no_file_is_read() -> None:
    cfg = config_from_args(build_parser().parse_args(["fit", "--train", "reviews.csv"]))
    assert (cfg.data.unlabeled_path, cfg.transfer.preset, cfg.transfer.enabled) == ("", "off", False)
    light = config_from_args(build_parser().parse_args(["fit", "--train", "reviews.csv", "--grow", "light"]))
    assert light.transfer.resolved().target_rows == 10_000 and light.transfer.resolved().methods == ["mask", "pos", "ngram"]


def test_it_refuses_a_preset_that_does_not_exist(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "--grow", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err
