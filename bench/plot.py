"""The bench's figures as a plot: wall seconds by number of hosts, the toolkit beside the same job
in plain pyinfra and in Ansible, for a first deploy, a redeploy with nothing new and a rotation.

    .venv/bin/python -m bench.plot [RESULTS] [--output SVG]

Drawn from what ``bench.deploy`` kept (``bench.results``, by default the latest run's
``bench/results/deploy.json``) into ``docs/img/bench-deploy.svg``, which docs/performance.md
shows; the title says the date and the commit measured. ``bench.deploy`` draws it after each
complete run. The SVG is the same bytes for the same figures (no date of drawing in it, fixed ids),
so redrawing changes nothing in git unless the figures did. matplotlib: requirements-docs.txt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("svg")  # no display, and the same output on every machine

import matplotlib.pyplot as plt

from bench import results

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "img" / "bench-deploy.svg"

#: One panel per job: its title and, for each contender, the scenario of bench.deploy measuring it.
PANELS = (
    ("first deploy", {"ssmenv": "first", "plain pyinfra": "peer_first",
                      "Ansible": "ansible_first"}),
    ("no-op redeploy", {"ssmenv": "noop", "plain pyinfra": "peer_noop",
                        "Ansible": "ansible_noop"}),
    ("rotation", {"ssmenv": "rotation", "ssmenv, default rollout": "rolling",
                  "plain pyinfra": "peer_rotation", "Ansible": "ansible_rotation"}),
)  # fmt: skip
SECONDS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200)  # the y axis's ticks
STYLE = {
    "ssmenv": {"color": "#1f77b4", "marker": "o"},
    "ssmenv, default rollout": {"color": "#1f77b4", "marker": "o", "linestyle": "--"},
    "plain pyinfra": {"color": "#ff7f0e", "marker": "s"},
    "Ansible": {"color": "#2ca02c", "marker": "^"},
}


def draw(measured: results.Results, output: Path = FIGURE) -> Path:
    """Draw ``measured`` into ``output`` (SVG); return the path."""
    plt.rcParams.update({"svg.hashsalt": "ssmenv-bench", "svg.fonttype": "none",
                         "font.size": 9})  # fmt: skip
    figure, axes = plt.subplots(1, len(PANELS), figsize=(11, 3.8), sharey=True)
    hosts = measured.hosts()
    for ax, (title, contenders) in zip(axes, PANELS, strict=True):
        for name, scenario in contenders.items():
            points = [(n, measured.median(n, scenario)) for n in hosts]
            points = [(n, s) for n, s in points if s is not None]
            if points:
                ax.plot(*zip(*points, strict=True), label=name, **STYLE[name])
        ax.set_title(title)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(hosts, [str(n) for n in hosts])
        ax.minorticks_off()
        ax.set_yticks(SECONDS, [f"{s:g}" for s in SECONDS])
        ax.set_xlabel("hosts")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("wall seconds (median)")
    axes[-1].legend(loc="upper left", frameon=False)
    figure.suptitle(f"A deploy's wall time by number of hosts: measured {measured.date}, "
                    f"commit {measured.commit}, {measured.cpus} CPUs (python -m bench.deploy)")
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, format="svg", metadata={"Date": None})
    plt.close(figure)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.plot",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("results", nargs="?", type=Path, default=results.LATEST,
                        help="a run's figures (default: bench/results/deploy.json)")  # fmt: skip
    parser.add_argument("--output", type=Path, default=FIGURE,
                        help="the SVG to write (default: docs/img/bench-deploy.svg)")  # fmt: skip
    args = parser.parse_args(argv)
    print(draw(results.load(args.results), args.output))


if __name__ == "__main__":
    main()
