"""The SPDX licences a submission may carry, and what each allows.

``commercial`` and ``derivatives`` are what snapshot builds check when a
snapshot declares its own licence.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class License:
    spdx: str
    name: str
    commercial: bool = True
    derivatives: bool = True
    share_alike: bool = False


LICENSES = [
    License("CC0-1.0", "Creative Commons Zero v1.0 Universal"),
    License("CC-BY-4.0", "Creative Commons Attribution 4.0"),
    License("CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0", share_alike=True),
    License("CC-BY-NC-4.0", "Creative Commons Attribution Non Commercial 4.0", commercial=False),
    License("CC-BY-NC-SA-4.0", "Creative Commons Attribution Non Commercial Share Alike 4.0", commercial=False, share_alike=True),
    License("CC-BY-ND-4.0", "Creative Commons Attribution No Derivatives 4.0", derivatives=False),
    License("CC-BY-NC-ND-4.0", "Creative Commons Attribution Non Commercial No Derivatives 4.0", commercial=False, derivatives=False),
    License("ODC-By-1.0", "Open Data Commons Attribution License v1.0"),
    License("ODbL-1.0", "Open Data Commons Open Database License v1.0", share_alike=True),
    License("PDDL-1.0", "Open Data Commons Public Domain Dedication & License 1.0"),
    License("Apache-2.0", "Apache License 2.0"),
    License("MIT", "MIT License"),
    License("EUPL-1.2", "European Union Public License 1.2", share_alike=True),
    License("etalab-2.0", "Etalab Open License 2.0"),
    License("DL-DE-BY-2.0", "Data licence Germany – attribution – version 2.0"),
]
BY_SPDX = {item.spdx: item for item in LICENSES}
CHOICES = [(item.spdx, f"{item.spdx} — {item.name}") for item in LICENSES]
