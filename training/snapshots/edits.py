"""Reviewers' edits: an accepted edit takes its original's place in a snapshot.

An edit never changes a record: it is a record of its own (in the
annotator's writing submission), linked to the record it corrects by its
``edit_of`` column, and reviewed like new content. Not by the review
answer that made it, which goes when its queue is deleted, nor by
``meta["edit_of"]``, which on uploads is whatever the partner wrote. Edits of edits
form a chain back to a root: the record first corrected. Per root, a
snapshot takes one version at most:

- the latest edit (highest id) that passes the snapshot's filters, if any;
- otherwise the root itself, if it passes.

The edit is credited to the root's submission: it is that partner's
material, corrected, and under that submission's licence. So it leaves
with the root: when any record on its chain is withdrawn, alone or with its
submission, no edit of the chain is taken. Free of Django: select.py asks
the database and hands the answers in.
"""

from __future__ import annotations

from collections import defaultdict


def ancestors(edit: int, links: dict[int, int]) -> list[int]:
    """The records ``edit`` corrects, from its parent to the root; ``links`` maps edit → record it corrects."""
    chain = []
    while edit in links:
        edit = links[edit]
        chain.append(edit)
    return chain


def choose(links: dict[int, int], passing: set[int], standing: dict[int, int]) -> tuple[set[int], dict[int, int]]:
    """(records to leave out, chosen edit → the submission it is credited to).

    ``passing``: the records among ``links``' edits that pass the filters;
    ``standing``: record → submission id, for the chains' records that are
    not withdrawn.
    """
    skip: set[int] = set()
    by_root: dict[int, list[int]] = defaultdict(list)
    for edit in passing & links.keys():
        chain = ancestors(edit, links)
        if all(record in standing for record in chain):
            by_root[chain[-1]].append(edit)
        else:
            skip.add(edit)
    credit = {}
    for root, candidates in by_root.items():
        chosen = max(candidates)
        credit[chosen] = standing[root]
        skip.update(candidates)
        skip.add(root)  # whether it passes or not: harmless when it does not
        skip.discard(chosen)
    return skip, credit
