"""The run form's "Grow the training set" in Debian's chromium: choosing light shows the extra teacher time,
the number typed moves it, and the Advanced part lists the ways to make rows, teacher-MLM greyed out for the
demo teacher (read from the rendered text and the controls' state, as a user meets them)."""
from __future__ import annotations

from tests.cldweb.test_browser import alice, browser_marks, browser_page, isolated_storage, sign_in  # noqa: F401

pytestmark = browser_marks


def test_the_grow_choice_shows_the_teacher_time_and_the_advanced_methods(asgi_server, alice, browser_page) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/new/")
    estimate = page.locator("#grow-estimate")
    expect(estimate).to_be_hidden()  # growing is off: no extra teacher time

    page.get_by_label("Light: about 10,000 more rows").check()
    # No finished run of the demo teacher here: the stated guess of 250 texts a second, 10,000 rows in 40 s.
    expect(estimate).to_have_text(
        "Growing adds less than a minute of teacher time, to label 10,000 generated rows. A rough guess: no finished run "
        "of this teacher here recorded its speed, so 250 texts a second is assumed, about what a demo teacher labels "
        "on a CPU.")
    page.fill("#id_grow_rows", "150000")
    expect(estimate).to_contain_text("Growing adds about 10 minutes of teacher time, to label 150,000 generated rows.")

    advanced = page.locator("#run-advanced")
    methods = page.locator("#field-grow_methods .choices label")
    expect(methods.first).to_be_hidden()  # inside the closed "Advanced" part
    advanced.locator("summary").click()
    expect(methods).to_have_text(["Masking words", "Replacing words by others of the same part of speech",
                                  "Keeping a window of the text", "The teacher rewriting words (masked-LM)"])
    expect(page.locator("input[name=grow_methods][value=mlm]")).to_be_disabled()  # the demo teacher has no MLM head
    expect(page.locator("input[name=grow_methods][value=mask]")).to_be_enabled()
    expect(page.locator("#mlm-needs-head")).to_contain_text("The demo teacher has none")
    assert not page.console_errors, page.console_errors
