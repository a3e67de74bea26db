"""`python -m bench` (`make bench`): start Rollcall as deployed, drive it, print the table and
write it as JSON under bench/results/. Exits 1 when any answer was wrong (see bench/report.py).

    python -m bench                       # every section, full size (a few minutes)
    python -m bench --quick               # every section, small (under a minute)
    python -m bench --sections scan,baseline --database postgresql
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench import harness, report

RESULTS = Path(__file__).parent / "results"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sections",
        default=",".join(harness.SECTIONS),
        help=f"comma-separated, of {', '.join(harness.SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("DATABASE_URL", "sqlite"),
        help="sqlite, postgresql (a scratch database on TEST_POSTGRES_URL's server), or a "
        "postgresql:// URL whose server gets the scratch database; "
        "default: DATABASE_URL, else sqlite",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    size.add_argument("--tiny", action="store_true", help="the smoke test's sizes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--logs", type=Path, help="keep every process's log in this directory")
    args = parser.parse_args(argv)
    args.sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = set(args.sections) - set(harness.SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.database.startswith("sqlite"):
        args.database = "sqlite"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    sizes = harness.TINY if args.tiny else harness.QUICK if args.quick else harness.FULL
    with tempfile.TemporaryDirectory(prefix="rollcall-bench-plans-") as work:
        results = harness.run(args.sections, sizes, args.database, Path(work), args.logs)
    report.print_table(results)
    path = report.write_json(results, args.out)
    print(f"written to {path}; wall time {results['wall_s']} s")
    problems = report.failures(results)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
