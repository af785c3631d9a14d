"""Progress of proof-runs: on a terminal one bar per host on stderr, redrawn in place as the script's
progress lines stream in (`ProgressBoard`); without one, one plain line per host and phase (`PhaseLines`).
`bar_line` and `phase_line` are pure."""

from __future__ import annotations

import shutil
import threading
import time
from typing import TextIO

from envdoctor.printable import printable

# Share of the bar each phase fills: set-up and warm-up are short next to the timed steps.
# The phases before "setup" are the first seconds: the script starting, counting GPUs, importing torch.
_PHASES = {"starting": (0.0, 0.0), "counting GPUs": (0.0, 0.01), "starting workers": (0.01, 0.02),
           "importing torch": (0.02, 0.03), "setup": (0.03, 0.04), "rendezvous": (0.04, 0.04),
           "joined": (0.04, 0.04), "all-reduce bandwidth": (0.04, 0.05), "building the model": (0.05, 0.05),
           "first step": (0.05, 0.06), "agreeing on the batch size": (0.06, 0.06), "DDP broadcast": (0.06, 0.06),
           "compiling": (0.06, 0.06), "warmup": (0.06, 0.2), "agreeing on the step count": (0.2, 0.2),
           "timed": (0.2, 1.0), "dataloader-start": (0.6, 0.6), "dataloader-warmup": (0.6, 0.65),
           "agreeing on the DataLoader step count": (0.65, 0.65), "dataloader": (0.65, 1.0)}


def fraction(ev: dict, dataloader: bool = False) -> float:
    lo, hi = _PHASES.get(ev.get("phase"), (0.0, 0.0))
    if dataloader and ev.get("phase") == "timed":
        hi = 0.6  # the DataLoader steps take the second half
    of = ev.get("of") or 0
    step = ev.get("step") or 0
    return lo + (hi - lo) * (min(step, of) / of if of else 0.0)


def bar_line(host: str, ev: dict | None, width: int = 24, done: str | None = None, dataloader: bool = False,
             name_width: int = 12) -> str:
    """`gpu01        [#########...............] timed 80/200  2,790 img/s  loss 0.41`"""
    host = printable(host)  # the name and the phase text come from the target: escaped, then measured
    if done is not None:
        return f"{host.ljust(name_width)} [{'#' * width}] {printable(done)}"
    if ev is None:
        return f"{host.ljust(name_width)} [{'.' * width}] starting"
    filled = int(round(fraction(ev, dataloader) * width))
    text = ev.get("phase", "")
    if ev.get("of"):
        text += f" {ev.get('step')}/{ev.get('of')}"
    if ev.get("img_s") is not None:
        text += f"  {ev['img_s']:,.0f} img/s"
    if ev.get("loss") is not None:
        text += f"  loss {ev['loss']:.3f}"
    if ev.get("rank"):
        text += f"  (process {ev['rank']})"
    return f"{host.ljust(name_width)} [{'#' * filled}{'.' * (width - filled)}] {printable(text)}"


def phase_line(host: str, ev: dict) -> str:
    """`gpu01: importing torch` / `gpu01: timed (fp16, batch 256)`: one line when a host enters a phase."""
    extra = ev.get("msg") or (f"{ev['precision']}, batch {ev['batch']}" if ev.get("precision") else "")
    return printable(f"{host}: {ev.get('phase')}" + (f" ({extra})" if extra else ""))


class PhaseLines:
    """Without a terminal: one plain line per host and phase on the stream, no redrawing."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.seen: dict[str, str | None] = {}
        self.lock = threading.Lock()

    def update(self, host: str, ev: dict) -> None:
        if ev.get("event") != "progress" or (ev.get("rank") or 0) != 0:
            return
        with self.lock:
            if self.seen.get(host) == ev.get("phase"):
                return
            self.seen[host] = ev.get("phase")
            self.stream.write(phase_line(host, ev) + "\n")
            self.stream.flush()

    def finish(self, host: str, text: str) -> None:
        with self.lock:
            self.stream.write(printable(f"{host}: done: {text}") + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass


class ProgressBoard:
    """Bars for several hosts, redrawn at most 10 times a second (ANSI cursor-up over the previous drawing)."""

    def __init__(self, hosts: list[str], stream: TextIO, dataloader: bool = False):
        self.hosts, self.stream, self.dataloader = hosts, stream, dataloader
        self.state: dict[str, dict | None] = {h: None for h in hosts}
        self.done: dict[str, str] = {}
        self.lock = threading.Lock()
        self.drawn = 0
        self.last = 0.0
        self.name_width = max([len(printable(h)) for h in hosts] + [8])

    def update(self, host: str, ev: dict) -> None:
        if ev.get("event") != "progress" or (ev.get("rank") or 0) != 0:
            return  # one bar per host: process 0 stands for the others
        with self.lock:
            self.state[host] = ev
            if time.monotonic() - self.last >= 0.1:
                self._draw()

    def finish(self, host: str, text: str) -> None:
        with self.lock:
            self.done[host] = text
            self._draw()

    def _draw(self) -> None:
        self.last = time.monotonic()
        cols = shutil.get_terminal_size((100, 24)).columns - 1  # a wrapped line would break the cursor-up
        lines = [bar_line(h, self.state[h], done=self.done.get(h), dataloader=self.dataloader,
                          name_width=self.name_width)[:cols] for h in self.hosts]
        out = (f"\x1b[{self.drawn}F" if self.drawn else "") + "".join(f"\x1b[2K{ln}\n" for ln in lines)
        self.stream.write(out)
        self.stream.flush()
        self.drawn = len(lines)

    def close(self) -> None:
        with self.lock:
            if self.drawn:
                self._draw()
