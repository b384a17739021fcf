"""Run failures reach the user as sentences in their language, not as codes."""
from __future__ import annotations

from django.utils import translation

from cldweb.messages import describe_error


def test_it_explains_a_lost_worker_in_both_languages():
    with translation.override("en"):
        english = describe_error("worker_lost", {"attempts": 3}, "fallback")
    with translation.override("zh-hans"):
        chinese = describe_error("worker_lost", {"attempts": 3}, "fallback")
    assert "3 times" in english
    assert "3 次" in chinese


def test_it_points_an_offline_user_to_the_teacher_upload():
    with translation.override("en"):
        message = describe_error("teacher_unavailable", {"teacher": "bert-base-chinese"}, "fallback")
    assert "bert-base-chinese" in message and "Teachers page" in message and "import_teacher" in message


def test_it_falls_back_to_the_engine_message_for_unknown_codes():
    assert describe_error("some_new_code", {}, "The engine said so.") == "The engine said so."


def test_it_suggests_bf16_for_an_lstm_only_where_the_cpu_can_run_it():
    import pytest

    from distill.config import RunConfig
    from distill.errors import ConfigError
    from distill.pipeline import validate_config

    config = RunConfig()
    config.data.train_path, config.train.device, config.train.amp = "never-read.csv", "cpu", "fp16"
    with pytest.raises(ConfigError) as refused:
        validate_config(config)
    error = refused.value
    assert error.code == "config_amp_cpu_lstm" and "bf16_supported" in error.params  # what the page needs
    with translation.override("zh-hans"):
        able = describe_error(error.code, {**error.params, "bf16_supported": True}, "fallback")
        unable = describe_error(error.code, {**error.params, "bf16_supported": False}, "fallback")
    assert "fp16" in able and "bf16" in able
    assert "fp16" in unable and "bf16" not in unable and "关闭" in unable


def test_it_describes_an_uploaded_teacher_in_the_uploaders_language():
    from cldweb.messages import uploaded_teacher_description

    with translation.override("zh-hans"):
        assert uploaded_teacher_description("bert.zip") == "上传自 bert.zip"
    with translation.override("en"):
        assert uploaded_teacher_description("bert.zip") == "Uploaded from bert.zip"


def test_it_says_in_both_languages_why_a_failed_export_made_no_download():
    from distill.export.verify import FP32_TOLERANCE, INT8_MIN_AGREEMENT

    onnx = {"architecture": "bilstm", "difference": 0.0031, "tolerance": FP32_TOLERANCE}
    int8 = {"architecture": "textcnn", "agreement": 0.9712, "texts": 1736, "required": INT8_MIN_AGREEMENT}
    with translation.override("en"):
        english = describe_error("export_onnx_differs", onnx, "fallback"), describe_error("export_int8_disagrees",
                                                                                          int8, "fallback")
    with translation.override("zh-hans"):
        chinese = describe_error("export_onnx_differs", onnx, "fallback"), describe_error("export_int8_disagrees",
                                                                                          int8, "fallback")

    assert "bilstm" in english[0] and "up to 3.1e-03" in english[0] and "allowed 1e-04" in english[0]
    assert "on only 97.1% of 1,736 dev texts (at least 99% needed)" in english[1]
    assert "no download was made" in english[0] and "no download was made" in english[1]
    assert "概率最多相差 3.1e-03" in chinese[0] and "在 1,736 条验证文本中只有 97.1%" in chinese[1]
