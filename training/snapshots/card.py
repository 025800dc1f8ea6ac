"""The dataset card: README.md with the Hugging Face Hub's YAML header."""

from __future__ import annotations

import json

from .params import SPLITS

_TASKS = {
    "pretraining": "text-generation",
    "instruction": "text-generation",
    "conversation": "text-generation",
    "evaluation": "question-answering",
    "preference": "text-generation",  # as the Hub's DPO sets (UltraFeedback binarised) declare it
}
_SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]


# The Hub's licence ids where they differ from SPDX lower-cased; anything it
# does not know is "other", its SPDX id given as license_name.
_HUB_LICENSES = {"ODC-By-1.0": "odc-by", "ODbL-1.0": "odbl", "PDDL-1.0": "pddl"}
_HUB_KNOWN = {"cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nd-4.0",
              "cc-by-nc-nd-4.0", "apache-2.0", "mit", "etalab-2.0", "odc-by", "odbl", "pddl"}


def _hub_id(spdx: str) -> str:
    hub = _HUB_LICENSES.get(spdx, spdx.lower())
    return hub if hub in _HUB_KNOWN else "other"


def hub_licenses(declared: str, licenses: list[str], override: dict | None) -> dict:
    """The header's licence keys: every licence that applies, the declared one and each record's.

    One licence stays a single value; several are the list the Hub accepts,
    since the declared licence alone would hide what the records demand.
    An override is spelt out in license_details.
    """
    spdx = sorted({declared, *licenses})
    ids = sorted({_hub_id(s) for s in spdx})
    header: dict = {"license": ids[0] if len(ids) == 1 else ids}
    unknown = [s for s in spdx if _hub_id(s) == "other"]
    if unknown:
        header["license_name"] = ", ".join(unknown)
    if override:
        header["license_details"] = (f"Declared {declared}, built despite licence conflicts; "
                                     f"override given by {override['by']}: {override['reason']}")
    return header


def size_category(records: int) -> str:
    return next((label for bound, label in _SIZES if records < bound), "n>1T" if records >= 10**12 else "1B<n<10B")


def _yaml(header: dict) -> str:
    # JSON is valid YAML; one key per line keeps the header readable and exact.
    return "\n".join(f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in header.items())


def render(*, label: str, license: str, licenses: dict, override: dict | None, params: dict, counts: dict,
           partners: list[dict], contamination: dict, fertility: dict, epochs: dict, description: str = "") -> str:
    """The card's text; deterministic for the same inputs (no dates).

    ``licenses`` and ``override`` are the manifest's: submissions and records
    per record licence, and the override (reason, by, conflicts) or None.
    """
    languages = sorted(counts)
    total = sum(c["records"] for splits in counts.values() for c in splits.values())
    configs = [
        {"config_name": lang, "data_files": [{"split": s, "path": f"{lang}/{s}-*.parquet"} for s in SPLITS if s in counts[lang]]}
        for lang in languages
    ]
    header = {
        "language": languages,
        **hub_licenses(license, list(licenses), override),
        "size_categories": [size_category(total)],
        "task_categories": sorted({_TASKS[k] for k in params["kinds"]}),
        "pretty_name": label,
        "configs": configs,
    }
    lines = ["---", _yaml(header), "---", "", f"# {label}", ""]
    if description:
        lines += [description, ""]
    lines += ["## Records and tokens", "", "| language | split | records | tokens |", "|---|---|---:|---:|"]
    for lang in languages:
        for split in SPLITS:
            if split in counts[lang]:
                c = counts[lang][split]
                lines.append(f"| {lang} | {split} | {c['records']} | {c['tokens']} |")
    lines += ["", "## Contributing partners and licences", "", "| partner | language | licence | submissions | records |", "|---|---|---|---:|---:|"]
    for p in partners:
        lines.append(f"| {p['partner']} | {p['language']} | {p['license']} | {p['submissions']} | {p['records']} |")
    lines += _license_lines(license, licenses, override) + _repetition_lines(params["max_epochs"], epochs)
    if fertility:
        lines += ["", "## Tokenizer fertility (tokens per word)", "", "| language | fertility |", "|---|---:|"]
        lines += [f"| {lang} | {value:.4f} |" for lang, value in sorted(fertility.items())]
    lines += ["", "## Contamination", "",
              f"Checked against {contamination.get('items', 0)} evaluation items: "
              f"{contamination.get('exact', 0)} exact and {contamination.get('near', 0)} near matches"
              f" ({'removed' if params['decontaminate'] else 'kept'}).",
              "", "## Build parameters", "", "```json", json.dumps(params, indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def _license_lines(declared: str, licenses: dict, override: dict | None) -> list[str]:
    lines = ["", "## Licences", "", f"Declared licence: {declared}. Each record keeps the licence of its submission:", "",
             "| licence | submissions | records |", "|---|---:|---:|"]
    lines += [f"| {spdx} | {n['submissions']} | {n['records']} |" for spdx, n in sorted(licenses.items())]
    if override:
        lines += ["", f"**Built despite licence conflicts.** Override given by {override['by']}: {override['reason']}", ""]
        lines += [f"- submission #{c['submission_id']} ({c['license']}): {c['reason']}" for c in override["conflicts"]]
    return lines


def _repetition_lines(cap: int, epochs: dict) -> list[str]:
    lines = ["", "## Repetition", "",
             f"No document is written more than {cap} times (max_epochs). Epochs of the training records:", "",
             "| language | max epochs | mean epochs |", "|---|---:|---:|"]
    return lines + [f"| {lang} | {e['max']} | {e['mean']:.2f} |" for lang, e in sorted(epochs.items())]
