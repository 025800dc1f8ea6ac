"""The SPDX licences a submission may carry, and what each allows.

``commercial`` and ``derivatives`` are what snapshot builds check when a
snapshot declares its own licence.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Licence:
    spdx: str
    name: str
    commercial: bool = True
    derivatives: bool = True
    share_alike: bool = False


LICENCES = [
    Licence("CC0-1.0", "Creative Commons Zero v1.0 Universal"),
    Licence("CC-BY-4.0", "Creative Commons Attribution 4.0"),
    Licence("CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0", share_alike=True),
    Licence("CC-BY-NC-4.0", "Creative Commons Attribution Non Commercial 4.0", commercial=False),
    Licence("CC-BY-NC-SA-4.0", "Creative Commons Attribution Non Commercial Share Alike 4.0", commercial=False, share_alike=True),
    Licence("CC-BY-ND-4.0", "Creative Commons Attribution No Derivatives 4.0", derivatives=False),
    Licence("CC-BY-NC-ND-4.0", "Creative Commons Attribution Non Commercial No Derivatives 4.0", commercial=False, derivatives=False),
    Licence("ODC-By-1.0", "Open Data Commons Attribution License v1.0"),
    Licence("ODbL-1.0", "Open Data Commons Open Database License v1.0", share_alike=True),
    Licence("PDDL-1.0", "Open Data Commons Public Domain Dedication & License 1.0"),
    Licence("Apache-2.0", "Apache License 2.0"),
    Licence("MIT", "MIT License"),
    Licence("EUPL-1.2", "European Union Public License 1.2", share_alike=True),
    Licence("etalab-2.0", "Etalab Open License 2.0"),
    Licence("DL-DE-BY-2.0", "Data licence Germany – attribution – version 2.0"),
]
BY_SPDX = {licence.spdx: licence for licence in LICENCES}
CHOICES = [(licence.spdx, f"{licence.spdx} — {licence.name}") for licence in LICENCES]
