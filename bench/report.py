"""Results as they come (stdout) and docs/benchmarks.md at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    title: str
    intro: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: list[str]) -> None:
        self.rows.append(row)
        widths = self._widths()
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  " + "  ".join(cells), flush=True)

    def begin(self) -> None:
        print(f"\n== {self.title}", flush=True)
        widths = self._widths()
        cells = [self.headers[0].ljust(widths[0])]
        cells += [h.rjust(w) for h, w in zip(self.headers[1:], widths[1:], strict=True)]
        print("  " + "  ".join(cells), flush=True)

    def _widths(self) -> list[int]:
        return [max(46, len(self.headers[0]))] + [max(8, len(h)) for h in self.headers[1:]]

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)


@dataclass
class Report:
    machine: dict[str, str]
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def section(self, title: str, intro: str, headers: list[str]) -> Section:
        s = Section(title, intro, headers)
        self.sections.append(s)
        s.begin()
        return s

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        print(f"  WARNING: {text}", flush=True)

    def markdown(self, seconds: float) -> str:
        m = self.machine
        out = [
            "# Benchmarks",
            "",
            "Written by `make bench` (`python -m bench`); every run overwrites this file with its",
            "own figures. Absolute numbers on a shared 2-core machine are noisy; the ratios are",
            "not, because each baseline (bare endpoint, raw SQL, raw publish, raw argon2) is",
            "measured in the same run on the same machine. Servers are the embedded ones",
            "(`EmbeddedStack`, `durable=False`: PostgreSQL runs with `fsync=off`,",
            "`synchronous_commit=off`), all on 127.0.0.1.",
            "",
            "## Machine",
            "",
            "| | |",
            "|---|---|",
            f"| date | {m['date']} |",
            f"| CPU | {m['cpu']} |",
            f"| cores | {m['cores']} |",
            f"| memory | {m['memory']} |",
            f"| Python | {m['python']} |",
            f"| OS | {m['os']} |",
            f"| other load | {m['background']} |",
            f"| parallel scaling | {m['scaling']} |",
            f"| load generator | {m.get('loadgen', '?')} |",
            f"| total bench time | {seconds:.0f} s |",
            "",
            "Targets from the brief (later issues measure them directly): bet placement through",
            "the API ≥ 1,000/s with p99 ≤ 50 ms; ledger transfer ≥ 2,000/s, p99 ≤ 10 ms, ≥ 60% of",
            "the raw-SQL ceiling.",
        ]
        for s in self.sections:
            out += ["", *_chunk(s)]
        if self.warnings:
            out += ["", "## Warnings from this run", ""] + [f"- {w}" for w in self.warnings]
        return "\n".join(out) + "\n"

    def write(self, path: Path, seconds: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown(seconds))

    def merge(self, path: Path, command: str) -> None:
        """Put this run's sections into an existing file (a run of some sections only): each
        replaces the section of the same title or goes before the warnings, the rest stays."""
        text = path.read_text() if path.exists() else self.markdown(0)
        head, *chunks = text.rstrip("\n").split("\n## ")
        titled = {chunk.split("\n", 1)[0]: chunk for chunk in chunks}
        m = self.machine
        when = f"Measured alone by `{command}` on {m['date']} ({m['background']})."
        for s in self.sections:
            extra = [when] + [f"Warning: {w}" for w in self.warnings if s is self.sections[-1]]
            titled[s.title] = "\n".join(_chunk(s, extra))[3:]  # without the leading "## "
        order = [title for title in titled if not title.startswith("Warnings")]
        order += [title for title in titled if title.startswith("Warnings")]
        path.write_text("\n## ".join([head, *(titled[t] for t in order)]) + "\n")


def _chunk(s: Section, extra: list[str] | None = None) -> list[str]:
    out = [
        f"## {s.title}",
        "",
        s.intro,
        "",
        "| " + " | ".join(s.headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(s.headers) - 1)) + "|",
    ]
    out += ["| " + " | ".join(row) + " |" for row in s.rows]
    notes = [*s.notes, *(extra or [])]
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return out
