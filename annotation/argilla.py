"""The Argilla adapter: the only module that imports ``argilla``.

A review queue becomes one Argilla dataset, named after the queue's id.
Its questions mirror the portal's actions: a decision (accept or reject),
1–5 ratings on the queue's scales, flags, a corrected text (an edit) and a
reason; for a preference queue, a verdict, a ranking of the responses,
flags and a better response written in. Argilla's task distribution asks
for as many submitted responses per record as the queue's overlap. Records
keep the portal's record id as their Argilla id, which makes pushing twice
an update, not a copy.

Answers are read, and records removed, through the SDK's records API
(``client.api.records``) rather than its ``Record`` objects: those hold a
response only as per-question values, so a discard without values vanishes
from them, and one whose values are null (Argilla allows both) makes
building them fail.

Everything crosses this boundary as plain dataclasses: the portal never
handles SDK objects, and this module never touches the database.
"""

import re
import warnings
from contextlib import contextmanager
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import argilla as rg

DATASET_PREFIX = "occiportal-queue-"
LANGID_AGENT = "occiportal-langid"
DECISIONS = {"accept": "Accept", "reject": "Reject"}
RATING_VALUES = [1, 2, 3, 4, 5]
PUSH_BATCH = 500  # the most records Argilla takes in one bulk request
PAGE = 100  # records read per request, and the most Argilla deletes in one
# Answers the portal takes: "submitted", and "discarded" (the annotator's Discard, a skip). Drafts wait.
SUBMITTED, DISCARDED = "submitted", "discarded"
# The quality signals shown as filterable metadata; all others ride along unindexed.
QUALITY_METADATA = (
    "words", "mean_word_length", "symbol_word_ratio", "digit_ratio", "stop_words", "duplicate_line_fraction",
)
# What the "edit" question corrects, per kind of record.
EDIT_TITLES = {
    "pretraining": "Corrected text",
    "instruction": "Corrected response",
    "conversation": "Corrected last assistant message",
    "evaluation": "Corrected question",
}
# Preference records: the prompt as a chat, responses in fields of their own, ranked in one question.
# Argilla fixes a ranking's options per dataset, so a dataset shows a fixed number of responses.
RESPONSES_MAX = 4
VERDICTS = {"ranked": "As I ranked them", "tie": "Tie: equally good", "both_bad": "All bad"}


@dataclass(frozen=True)
class Connection:
    api_url: str
    api_key: str
    workspace: str


@dataclass(frozen=True)
class DatasetSpec:
    """What Argilla needs to know about a review queue."""

    queue_id: int
    kind: str
    guidelines: str
    overlap: int
    rating_scales: list[str]
    flags: dict[str, str]  # value → label
    responses: int = 2  # preference queues: responses per record a new dataset shows (2 to RESPONSES_MAX)


@dataclass(frozen=True)
class PushItem:
    """One portal record, with the signals that become metadata and suggestions."""

    record_id: int
    kind: str
    content: dict
    language: str
    partner: str
    edit_text: str
    detected_language: str = ""
    language_score: float | None = None
    language_mismatch: bool = False
    quality: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PulledResponse:
    """One Argilla user's submitted or discarded answer to one record, in the portal's terms."""

    record_id: int
    username: str
    status: str  # SUBMITTED or DISCARDED
    values: dict[str, Any]  # question name → value, as Argilla holds them
    decision: str | None
    ratings: dict[str, int]
    flags: list[str]
    reason: str
    edit_text: str


def dataset_name(queue_id: int) -> str:
    return f"{DATASET_PREFIX}{queue_id}"


def rating_question(scale: str) -> str:
    """Argilla's name for a rating scale's question: lower case, letters, digits, "_" and "-" only."""
    return "rating_" + re.sub(r"[^a-z0-9_-]+", "_", scale.lower())


def response_field(number: int) -> str:
    """The field (and ranking option) of the response shown at ``number`` (1-based)."""
    return f"response_{number}"


def connect(connection: Connection) -> "rg.Argilla":
    return rg.Argilla(api_url=connection.api_url, api_key=connection.api_key)


@contextmanager
def _lookup():
    # The SDK warns when a name is not found; here "not found" is an answer, not a problem.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".* not found", category=UserWarning)
        yield


def queue_ids_with_datasets(connection: Connection) -> set[int]:
    """Ids of the queues that have been pushed to the workspace."""
    with _lookup():
        workspace = connect(connection).workspaces(name=connection.workspace)
    if workspace is None:
        return set()
    suffixes = [dataset.name.removeprefix(DATASET_PREFIX) for dataset in workspace.datasets]
    return {int(suffix) for suffix in suffixes if suffix.isdigit()}


def dataset_settings(spec: DatasetSpec) -> "rg.Settings":
    questions = _preference_questions(spec) if spec.kind == "preference" else _questions(spec)
    metadata = [
        rg.TermsMetadataProperty("language"),
        rg.TermsMetadataProperty("partner"),
        rg.TermsMetadataProperty("detected_language"),
        rg.FloatMetadataProperty("language_score"),
        *[rg.FloatMetadataProperty(f"quality_{name}") for name in QUALITY_METADATA],
    ]
    return rg.Settings(
        fields=_fields(spec.kind, spec.responses), questions=questions, metadata=metadata,
        guidelines=spec.guidelines or None,
        distribution=rg.TaskDistribution(min_submitted=spec.overlap),
        allow_extra_metadata=True,
    )


def _questions(spec: DatasetSpec) -> list:
    return [
        rg.LabelQuestion("decision", labels=DECISIONS, title="Keep this record for training?"),
        *[
            rg.RatingQuestion(rating_question(scale), values=RATING_VALUES, title=scale.capitalize(), required=False)
            for scale in spec.rating_scales
        ],
        rg.MultiLabelQuestion("flags", labels=spec.flags, title="Flags", required=False),
        rg.TextQuestion(
            "edit", title=EDIT_TITLES[spec.kind], required=False,
            description="Change the text to correct it; leave it as it is otherwise.",
        ),
        rg.TextQuestion("reason", title="Reason (when you reject)", required=False),
    ]


def _preference_questions(spec: DatasetSpec) -> list:
    # The verdict is the required question (Argilla publishes no dataset without one); the ranking counts
    # only with the verdict "ranked". Flags make the answer a flag, as on the portal.
    options = {response_field(n): f"Response {n}" for n in range(1, spec.responses + 1)}
    return [
        rg.LabelQuestion("verdict", labels=VERDICTS, title="Your judgement"),
        rg.RankingQuestion("ranking", values=options, title="Rank the responses, best first", required=False),
        rg.MultiLabelQuestion("flags", labels=spec.flags, title="Flags", required=False),
        rg.TextQuestion(
            "written", title="A better response (optional)", required=False,
            description="Write a response better than the best one shown; it becomes a new pair.",
        ),
    ]


def _fields(kind: str, responses: int = 2) -> list:
    if kind == "preference":
        shown = [rg.TextField(response_field(n), title=f"Response {n}", required=n <= 2) for n in range(1, responses + 1)]
        return [rg.ChatField("prompt", title="Prompt"), *shown]
    if kind == "pretraining":
        return [rg.TextField("text", title="Document")]
    if kind == "instruction":
        return [rg.TextField("prompt", title="Prompt"), rg.TextField("response", title="Response")]
    if kind == "conversation":
        return [rg.ChatField("conversation", title="Conversation")]
    return [rg.TextField("question", title="Question"), rg.TextField("choices", title="Choices", use_markdown=True)]


def _field_values(kind: str, content: dict) -> dict:
    if kind == "preference":  # content as preference_push_content shapes it: turns, responses in the order shown
        turns = [{"role": m["role"], "content": m["content"]} for m in content["prompt"]]
        return {"prompt": turns} | {response_field(n): text for n, text in enumerate(content["responses"], 1)}
    if kind == "conversation":
        return {"conversation": [{"role": m["role"], "content": m["content"]} for m in content["messages"]]}
    if kind == "evaluation":
        # The answer is shown, marked: reviewers judge the item, key included.
        lines = [
            f"{i + 1}. {choice}{' ✓' if i == content['answer'] else ''}" for i, choice in enumerate(content["choices"])
        ]
        return {"question": content["question"], "choices": "\n".join(lines)}
    return {name: content[name] for name in ("text", "prompt", "response") if name in content}


def dataset_ensure(connection: Connection, spec: DatasetSpec) -> "rg.Dataset":
    """The queue's dataset, created (in a workspace created if need be) on first use."""
    client = connect(connection)
    with _lookup():
        workspace = client.workspaces(name=connection.workspace)
        if workspace is None:
            workspace = rg.Workspace(name=connection.workspace, client=client).create()
        dataset = client.datasets(name=dataset_name(spec.queue_id), workspace=workspace)
    if dataset is None:
        return rg.Dataset(
            name=dataset_name(spec.queue_id), workspace=workspace, settings=dataset_settings(spec), client=client
        ).create()
    # Guidelines and overlap may change on the portal; Argilla takes no new questions once published.
    guidelines = spec.guidelines or None
    if dataset.settings.guidelines != guidelines or dataset.settings.distribution.min_submitted != spec.overlap:
        dataset.settings.guidelines = guidelines
        dataset.settings.distribution = rg.TaskDistribution(min_submitted=spec.overlap)
        dataset.update()
    return dataset


def records_push(connection: Connection, spec: DatasetSpec, items: Iterable[PushItem]) -> tuple[int, int]:
    """Create or update the queue's records in Argilla, a batch at a time; return how many were sent and kept back.

    A preference record with more responses than the dataset shows is kept back (it stays with the portal's reviewers).
    """
    dataset, items, sent, kept_back = dataset_ensure(connection, spec), iter(items), 0, 0
    if spec.kind == "preference":
        shown = len(dataset.settings.questions["ranking"].values)

        def fits(item: PushItem) -> bool:
            nonlocal kept_back
            kept_back += len(item.content["responses"]) > shown
            return len(item.content["responses"]) <= shown

        items = filter(fits, items)
    while batch := [_record(item) for item in islice(items, PUSH_BATCH)]:
        dataset.records.log(batch, batch_size=len(batch))
        sent += len(batch)
    return sent, kept_back


def _record(item: PushItem) -> "rg.Record":
    metadata = {"language": item.language, "partner": item.partner}
    metadata |= {"detected_language": item.detected_language} if item.detected_language else {}
    metadata |= {"language_score": item.language_score} if item.language_score is not None else {}
    metadata |= {f"quality_{k}": float(v) for k, v in item.quality.items() if k in QUALITY_METADATA and v is not None}
    preference = item.kind == "preference"
    suggestions = [] if preference else [rg.Suggestion("edit", item.edit_text, type="human", agent="occiportal-original")]
    if item.language_mismatch and preference:
        suggestions.append(rg.Suggestion("flags", ["wrong_language"], agent=LANGID_AGENT, type="model"))
    elif item.language_mismatch:
        # Language ID says this is not the queue's language: suggest what a reviewer would do.
        score = round(item.language_score, 4) if item.language_score is not None else None
        suggestions += [
            rg.Suggestion("decision", "reject", score=score, agent=LANGID_AGENT, type="model"),
            rg.Suggestion("flags", ["wrong_language"], agent=LANGID_AGENT, type="model"),
        ]
    return rg.Record(
        id=str(item.record_id), fields=_field_values(item.kind, item.content), metadata=metadata,
        suggestions=suggestions,
    )


def _dataset(client, connection: Connection, queue_id: int):
    with _lookup():
        workspace = client.workspaces(name=connection.workspace)
        return workspace and client.datasets(name=dataset_name(queue_id), workspace=workspace)


def responses_pull(connection: Connection, spec: DatasetSpec) -> list[PulledResponse]:
    """Every submitted or discarded response in the queue's dataset; none when it was never pushed."""
    client = connect(connection)
    dataset = _dataset(client, connection, spec.queue_id)
    if dataset is None:
        return []
    usernames = _usernames(client, dataset)
    answered = rg.Query(filter=rg.Filter(("response.status", "in", [SUBMITTED, DISCARDED]))).api_model()
    pulled, offset = [], 0
    while True:
        page, _total = client.api.records.search(
            dataset.id, answered, offset=offset, limit=PAGE, with_suggestions=False, with_responses=True
        )
        for record in (record for record, _score in page if _is_portal_id(record)):
            for response in record.responses:
                # A response of a deleted Argilla user has no user left to match.
                if response.status in (SUBMITTED, DISCARDED) and response.user_id:
                    username = usernames.get(response.user_id) or _username(client, response.user_id)
                    pulled.append(_pulled(int(record.external_id), username, response, spec.rating_scales))
        if len(page) < PAGE:
            return pulled
        offset += len(page)


def _is_portal_id(record) -> bool:
    # Records someone added in Argilla by hand have ids of their own: the portal leaves them alone.
    return str(record.external_id).isdigit()


def records_remove(connection: Connection, queue_id: int, closed: Callable[[list[int]], set[int]]) -> int:
    """Delete from the queue's dataset the records ``closed`` picks; return how many went.

    ``closed`` gets the portal ids of one page of the dataset's records and
    returns those to delete. Pages are read in Argilla's order (oldest
    first); deleting a page's records moves the next page up by as many.
    """
    client = connect(connection)
    dataset = _dataset(client, connection, queue_id)
    if dataset is None:
        return 0
    offset, removed = 0, 0
    while True:
        page = client.api.records.list(dataset.id, offset=offset, limit=PAGE, with_suggestions=False, with_responses=False)
        by_id = {int(record.external_id): record for record in page if _is_portal_id(record)}
        stale = [by_id[record_id] for record_id in closed(list(by_id)) if record_id in by_id]
        if stale:
            client.api.records.delete_many(dataset.id, stale)
        removed += len(stale)
        if len(page) < PAGE:
            return removed
        offset += len(page) - len(stale)


def _usernames(client, dataset) -> dict:
    return {user.id: user.username for user in client.users.list(workspace=dataset.workspace)}


def _username(client, user_id) -> str:
    # Owners reach every workspace without being listed as its members.
    with _lookup():
        user = client.users(id=user_id)
    return user.username if user else ""


def _pulled(record_id: int, username: str, response, scales: list[str]) -> PulledResponse:
    # A discard may carry the answers given so far, or none at all (null).
    values = {name: answer["value"] for name, answer in (response.values or {}).items()}
    ratings = {scale: values[rating_question(scale)] for scale in scales if values.get(rating_question(scale)) is not None}
    return PulledResponse(
        record_id=record_id, username=username, status=response.status.value, values=values,
        decision=values.get("decision"), ratings=ratings, flags=list(values.get("flags") or []),
        reason=(values.get("reason") or "").strip(), edit_text=values.get("edit") or "",
    )
