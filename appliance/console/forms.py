"""Modal screens: a small form (one or more text fields) and the help screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

HELP = """\
Keys (everywhere)
  1 Live   2 Callbacks   3 Bookings   4 Health   ? help   q quit
  p pause / resume the AI for new calls and chats

Live (calls and chats now)
  up/down select   t take over a chat   r reply (after take-over)
  b hand back to the AI   x transfer a call   e end a call

Callbacks (oldest first)
  c claim   d done (with a note)   o reopen   a show done / open

Bookings
  / search   [ ] previous / next day   w day / week
  n new   g change dates   k cancel   y approve   D decline

The console talks only to the daemon's control API (the socket in the
data directory). It reconnects by itself when the daemon restarts.
"""


class FormScreen(ModalScreen[dict[str, str] | None]):
    """Ask for a few values; dismisses with {name: value}, or None on Escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen > Vertical { width: 70; max-width: 96%; height: auto; max-height: 100%;
                            border: round $accent; padding: 0 1; background: $surface; }
    FormScreen .row { height: 1; margin: 0 0 1 0; }
    FormScreen .row Label { width: 24; }
    FormScreen Input { border: none; height: 1; width: 1fr; padding: 0 1; }
    FormScreen #hint { color: $text-muted; }
    """

    def __init__(self, title: str, fields: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields  # (name, label, initial value)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, markup=False, classes="title")
            for name, label, value in self.fields:
                with Horizontal(classes="row"):
                    yield Label(label, markup=False)
                    yield Input(value=value, id=f"f-{name}")
            yield Label("Enter: next field / send    Esc: cancel", id="hint", markup=False)

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            self._finish()
        else:
            inputs[inputs.index(event.input) + 1].focus()

    def _finish(self) -> None:
        self.dismiss({name: self.query_one(f"#f-{name}", Input).value for name, _l, _v in self.fields})

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 78; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $accent; background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP, markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
