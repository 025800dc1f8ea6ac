"""A stand-in Argilla 2.x server for the bridge tests: an in-memory store behind Argilla's v1 REST API.

Argilla's own server needs Elasticsearch, which these machines cannot run.
This one answers exactly the calls the ``argilla`` SDK makes in the
bridge's flow, with the request and response shapes of the SDK's
``argilla/_api/*.py`` and ``argilla/_models/*.py`` (and of the server's
schemas they mirror), and it checks what Argilla checks on the way: the
API key, that a published dataset has a field and a required question,
that record fields, suggestions and responses name the dataset's fields
and questions with values their settings allow. Every exchange is kept in
``exchanges`` so that tests can assert what the SDK sent.

``POST /api/v1/records/{id}/responses`` is how Argilla's UI submits (or
discards, or saves as a draft) an annotator's first answer to a record, and
``PUT /api/v1/responses/{id}`` how it changes that answer later, a draft
into a discard for instance; tests call them with the annotator's own key.
As on Argilla's server, a discard's values may be partial, empty or null.
"""

import copy
import json
import re
import threading
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.stand_in_server import StandInServer

OWNER_KEY = "owner.apikey"
UUID_RE = r"([0-9a-f-]{36})"
RECORDS_DELETE_LIMIT = 100  # the most records DELETE /api/v1/datasets/{id}/records takes at once
RESPONSE_STATUSES = ("draft", "submitted", "discarded")


class ApiError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class Exchange:
    method: str
    path: str
    query: dict
    body: object
    status: int
    response: object


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _resource(**fields) -> dict:
    return {"id": str(uuid.uuid4()), **fields, "inserted_at": _now(), "updated_at": _now()}


class ArgillaTestServer(StandInServer):
    """Start with ``with ArgillaTestServer() as server:``; ``server.url`` and ``OWNER_KEY`` connect the SDK."""

    def __init__(self):
        super().__init__(_Handler)
        self.users, self.keys, self.workspaces, self.members = {}, {}, {}, {}
        self.datasets, self.fields, self.questions, self.metadata, self.records = {}, {}, {}, {}, {}
        self._lock = threading.Lock()
        self.add_user("argilla", role="owner", api_key=OWNER_KEY)
        self._routes = [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in self._table()]

    # ---- test-side helpers -------------------------------------------------

    def add_user(self, username, *, role="annotator", api_key=None, workspace=None) -> dict:
        user = _resource(username=username, first_name=username, last_name=None, role=role)
        self.users[user["id"]] = user
        self.keys[api_key or f"{username}.apikey"] = user["id"]
        if workspace:
            self.members.setdefault(self.workspace_named(workspace)["id"], set()).add(user["id"])
        return user

    def workspace_named(self, name) -> dict:
        return next(w for w in self.workspaces.values() if w["name"] == name)

    def dataset_named(self, name) -> dict:
        return next(d for d in self.datasets.values() if d["name"] == name)

    def record_by_external_id(self, dataset_name, external_id) -> dict:
        dataset_id = self.dataset_named(dataset_name)["id"]
        return next(r for r in self.records.values() if r["dataset_id"] == dataset_id and r["external_id"] == str(external_id))

    def __enter__(self):
        super().__enter__()
        self.http = httpx.Client(base_url=self.url)  # for tests that act as Argilla's UI would
        return self

    def __exit__(self, *exc):
        self.http.close()
        super().__exit__(*exc)

    # ---- dispatch ----------------------------------------------------------

    def handle(self, method, path, query, body, api_key):
        with self._lock:
            try:
                user = self.users.get(self.keys.get(api_key))
                if user is None:
                    raise ApiError(401, "Could not validate credentials")
                for route_method, pattern, handler in self._routes:
                    if route_method == method and (match := pattern.match(path)):
                        status, response = handler(user, query, body, *match.groups())
                        break
                else:
                    raise ApiError(404, f"No route {method} {path}")
            except ApiError as error:
                status, response = error.status, {"detail": error.detail}
            except Exception:  # a bug here: answer 500 with the traceback, as a test failure would want
                status, response = 500, {"detail": traceback.format_exc()}
            response = copy.deepcopy(response)  # the exchange as it was, whatever changes later
            self.exchanges.append(Exchange(method, path, query, body, status, response))
            return status, response

    def _table(self):
        d = f"/api/v1/datasets/{UUID_RE}"
        return [
            ("GET", "/api/v1/me", self._me),
            ("GET", "/api/v1/me/workspaces", self._my_workspaces),
            ("POST", "/api/v1/workspaces", self._workspace_create),
            ("GET", f"/api/v1/workspaces/{UUID_RE}", self._workspace_get),
            ("GET", f"/api/v1/workspaces/{UUID_RE}/users", self._workspace_users),
            ("GET", f"/api/v1/users/{UUID_RE}", self._user_get),
            ("GET", "/api/v1/me/datasets", self._my_datasets),
            ("POST", "/api/v1/datasets", self._dataset_create),
            ("GET", d, self._dataset_get),
            ("PATCH", d, self._dataset_update),
            ("DELETE", d, self._dataset_delete),
            ("PUT", f"{d}/publish", self._dataset_publish),
            ("GET", f"{d}/progress", self._dataset_progress),
            ("POST", f"{d}/fields", self._child_create("fields")),
            ("GET", f"{d}/fields", self._child_list("fields")),
            ("POST", f"{d}/questions", self._child_create("questions")),
            ("GET", f"{d}/questions", self._child_list("questions")),
            ("POST", f"{d}/metadata-properties", self._child_create("metadata")),
            ("GET", f"/api/v1/me/datasets/{UUID_RE}/metadata-properties", self._child_list("metadata")),
            ("GET", f"{d}/vectors-settings", lambda user, query, body, dataset_id: (200, {"items": []})),
            ("PUT", f"{d}/records/bulk", self._records_upsert),
            ("GET", f"{d}/records", self._records_list),
            ("DELETE", f"{d}/records", self._records_delete),
            ("POST", f"{d}/records/search", self._records_search),
            ("POST", f"/api/v1/records/{UUID_RE}/responses", self._response_create),
            ("PUT", f"/api/v1/responses/{UUID_RE}", self._response_update),
            ("PATCH", f"/api/v1/fields/{UUID_RE}", self._child_update("fields")),
            ("PATCH", f"/api/v1/questions/{UUID_RE}", self._child_update("questions")),
            ("PATCH", f"/api/v1/metadata-properties/{UUID_RE}", self._child_update("metadata")),
        ]

    # ---- users and workspaces ----------------------------------------------

    def _me(self, user, query, body):
        return 200, user

    def _owner(self, user):
        if user["role"] != "owner":
            raise ApiError(403, "Only owners may do this")

    def _my_workspaces(self, user, query, body):
        mine = [w for w in self.workspaces.values() if user["role"] == "owner" or user["id"] in self.members.get(w["id"], ())]
        return 200, {"items": mine}

    def _workspace_create(self, user, query, body):
        self._owner(user)
        if any(w["name"] == body["name"] for w in self.workspaces.values()):
            raise ApiError(409, f"Workspace name `{body['name']}` is not unique")
        workspace = _resource(name=body["name"])
        self.workspaces[workspace["id"]] = workspace
        return 201, workspace

    def _workspace_get(self, user, query, body, workspace_id):
        return 200, self._get(self.workspaces, workspace_id)

    def _workspace_users(self, user, query, body, workspace_id):
        self._get(self.workspaces, workspace_id)
        return 200, {"items": [self.users[i] for i in sorted(self.members.get(workspace_id, ()))]}

    def _user_get(self, user, query, body, user_id):
        return 200, self._get(self.users, user_id)

    @staticmethod
    def _get(store, key):
        if key not in store:
            raise ApiError(404, f"`{key}` not found")
        return store[key]

    # ---- datasets and their settings ---------------------------------------

    def _my_datasets(self, user, query, body):
        workspaces = {w["id"] for w in self._my_workspaces(user, query, body)[1]["items"]}
        return 200, {"items": [d for d in self.datasets.values() if d["workspace_id"] in workspaces]}

    def _dataset_create(self, user, query, body):
        self._owner(user)
        self._get(self.workspaces, body["workspace_id"])
        if any(d["name"] == body["name"] and d["workspace_id"] == body["workspace_id"] for d in self.datasets.values()):
            raise ApiError(409, f"Dataset with name `{body['name']}` already exists")
        distribution = body.get("distribution") or {"strategy": "overlap", "min_submitted": 1}
        dataset = _resource(
            name=body["name"], guidelines=body.get("guidelines"), allow_extra_metadata=body.get("allow_extra_metadata", True),
            status="draft", distribution=distribution, metadata=None, workspace_id=body["workspace_id"],
            last_activity_at=_now(),
        )
        self.datasets[dataset["id"]] = dataset
        return 201, dataset

    def _dataset_get(self, user, query, body, dataset_id):
        return 200, self._get(self.datasets, dataset_id)

    def _dataset_update(self, user, query, body, dataset_id):
        # The SDK sends its whole model; the server takes what may change.
        self._owner(user)
        dataset = self._get(self.datasets, dataset_id)
        for key in ("name", "guidelines", "allow_extra_metadata", "distribution"):
            if key in body:
                dataset[key] = body[key]
        dataset["updated_at"] = _now()
        return 200, dataset

    def _dataset_delete(self, user, query, body, dataset_id):
        self._owner(user)
        dataset = self.datasets.pop(self._get(self.datasets, dataset_id)["id"])
        for kind in ("fields", "questions", "metadata", "records"):
            store = getattr(self, kind)
            for key in [k for k, v in store.items() if v["dataset_id"] == dataset_id]:
                del store[key]
        return 200, dataset

    def _dataset_publish(self, user, query, body, dataset_id):
        dataset = self._get(self.datasets, dataset_id)
        if not self.children("fields", dataset_id):
            raise ApiError(422, "Dataset cannot be published without fields")
        if not any(q["required"] for q in self.children("questions", dataset_id)):
            raise ApiError(422, "Dataset cannot be published without required questions")
        dataset["status"] = "ready"
        return 200, dataset

    def _dataset_progress(self, user, query, body, dataset_id):
        records = [r for r in self.records.values() if r["dataset_id"] == dataset_id]
        completed = sum(r["status"] == "completed" for r in records)
        return 200, {"total": len(records), "completed": completed, "pending": len(records) - completed}

    def children(self, kind, dataset_id):
        return [c for c in getattr(self, kind).values() if c["dataset_id"] == dataset_id]

    def _child_create(self, kind):
        def create(user, query, body, dataset_id):
            self._owner(user)
            if self._get(self.datasets, dataset_id)["status"] != "draft" and kind != "metadata":
                raise ApiError(422, f"{kind} cannot be added to a published dataset")
            if any(c["name"] == body["name"] for c in self.children(kind, dataset_id)):
                raise ApiError(409, f"`{body['name']}` already exists")
            child = _resource(**{k: v for k, v in body.items() if k not in ("id", "inserted_at", "updated_at")})
            child["dataset_id"] = dataset_id
            if child["settings"]["type"] in ("label_selection", "multi_label_selection"):
                child["settings"].setdefault("visible_options", None)
            getattr(self, kind)[child["id"]] = child
            return 201, child

        return create

    def _child_update(self, kind):
        # What Argilla lets change after publishing: titles, descriptions, display settings.
        def update(user, query, body, child_id):
            self._owner(user)
            child = self._get(getattr(self, kind), child_id)
            if body["settings"]["type"] != child["settings"]["type"]:
                raise ApiError(422, "the type of a setting cannot change")
            child.update(title=body.get("title"), description=body.get("description"), updated_at=_now())
            child["settings"] = {**child["settings"], **body["settings"]}
            return 200, child

        return update

    def _child_list(self, kind):
        return lambda user, query, body, dataset_id: (200, {"items": self.children(kind, dataset_id)})

    # ---- records -----------------------------------------------------------

    def _records_upsert(self, user, query, body, dataset_id):
        self._owner(user)
        dataset = self._get(self.datasets, dataset_id)
        if dataset["status"] != "ready":
            raise ApiError(422, "Records cannot be added to a non published dataset")
        items, updated = [], []
        for item in body["items"]:
            existing = self._find_record(dataset_id, item)
            self._check_record(dataset, item)
            record = existing or _resource(dataset_id=dataset_id, status="pending", responses=[])
            record["id"] = existing["id"] if existing else record["id"]
            record["external_id"] = item.get("external_id")
            record["fields"] = item["fields"]
            record["metadata"] = item.get("metadata") or {}
            record["vectors"] = item.get("vectors") or {}
            record["suggestions"] = [self._suggestion(s) for s in item.get("suggestions") or []]
            record["updated_at"] = _now()
            self.records[record["id"]] = record
            (updated.append(record["id"]) if existing else None)
            items.append(self._render(record, ["suggestions", "responses"]))
        return 200, {"items": items, "updated_item_ids": updated}

    def _find_record(self, dataset_id, item):
        for record in self.records.values():
            if record["dataset_id"] == dataset_id and (
                record["id"] == item.get("id") or (item.get("external_id") and record["external_id"] == item["external_id"])
            ):
                return record
        return None

    def _check_record(self, dataset, item):
        fields = {f["name"]: f for f in self.children("fields", dataset["id"])}
        values = item.get("fields") or {}
        if unknown := set(values) - set(fields):
            raise ApiError(422, f"found fields values for non configured fields: {sorted(unknown)}")
        if missing := [n for n, f in fields.items() if f["required"] and values.get(n) in (None, "", [])]:
            raise ApiError(422, f"missing required value for field: {missing}")
        known_metadata = {m["name"] for m in self.children("metadata", dataset["id"])}
        if not dataset["allow_extra_metadata"] and set(item.get("metadata") or {}) - known_metadata:
            raise ApiError(422, "extra metadata is not allowed for this dataset")
        questions = {q["id"]: q for q in self.children("questions", dataset["id"])}
        for suggestion in item.get("suggestions") or []:
            question = questions.get(suggestion.get("question_id"))
            if question is None:
                raise ApiError(422, f"question_id={suggestion.get('question_id')} does not exist")
            self._check_value(question, suggestion["value"])

    @staticmethod
    def _check_value(question, value, status="submitted"):
        settings = question["settings"]
        options = [o["value"] for o in settings.get("options", [])]
        kind = settings["type"]
        if kind == "text":
            ok = isinstance(value, str) and value != ""
        elif kind == "multi_label_selection":
            ok = isinstance(value, list) and bool(value) and all(v in options for v in value)
        elif kind in ("label_selection", "rating"):
            ok = not isinstance(value, (list, dict)) and value in options
        elif kind == "ranking":
            # Items {"value": option, "rank": 1…n}, ties allowed; a submitted answer ranks every option.
            ranked = [v.get("value") for v in value if isinstance(v, dict)] if isinstance(value, list) else None
            ok = ranked is not None and len(ranked) == len(value) and set(ranked) <= set(options)
            if ok and status == "submitted":
                ok = len(ranked) == len(options) and all(v.get("rank") in range(1, len(options) + 1) for v in value)
        else:
            ok = True
        if not ok:
            raise ApiError(422, f"{value!r} is not a valid value for {kind} question `{question['name']}`")

    @staticmethod
    def _suggestion(item):
        return _resource(**{k: item.get(k) for k in ("question_id", "value", "score", "agent", "type")}) | (
            {"id": item["id"]} if item.get("id") else {}
        )

    def _render(self, record, include):
        rendered = {k: v for k, v in record.items() if k not in ("suggestions", "responses", "vectors")}
        rendered |= {k: record[k] for k in include if k in ("suggestions", "responses")}
        return rendered

    def _records_list(self, user, query, body, dataset_id):
        self._get(self.datasets, dataset_id)
        records = [r for r in self.records.values() if r["dataset_id"] == dataset_id]
        page = self._page(records, query)
        return 200, {"items": [self._render(r, query.get("include", [])) for r in page], "total": len(records)}

    def _records_search(self, user, query, body, dataset_id):
        self._get(self.datasets, dataset_id)
        records = [r for r in self.records.values() if r["dataset_id"] == dataset_id]
        for condition in ((body or {}).get("filters") or {}).get("and", []):
            records = [r for r in records if self._matches(r, condition)]
        page = self._page(records, query)
        items = [{"record": self._render(r, query.get("include", [])), "query_score": None} for r in page]
        return 200, {"items": items, "total": len(records)}

    def _matches(self, record, condition):
        scope = condition["scope"]
        if condition["type"] != "terms":
            raise ApiError(422, "only terms filters are supported by the test server")
        if scope["entity"] == "response" and scope.get("property") == "status":
            return any(response["status"] in condition["values"] for response in record["responses"])
        if scope["entity"] == "record":
            return record.get(scope["property"]) in condition["values"]
        if scope["entity"] == "metadata":
            return record["metadata"].get(scope["metadata_property"]) in condition["values"]
        raise ApiError(422, f"filter scope {scope} is not supported by the test server")

    @staticmethod
    def _page(records, query):
        offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["50"])[0])
        return sorted(records, key=lambda r: r["inserted_at"])[offset : offset + limit]

    def _records_delete(self, user, query, body, dataset_id):
        # DELETE /api/v1/datasets/{id}/records?ids=a,b,…: at most 100 ids; ids of other datasets are ignored.
        self._owner(user)
        self._get(self.datasets, dataset_id)
        ids = [i for i in ",".join(query.get("ids", [])).split(",") if i]
        if not ids:
            raise ApiError(422, "No record IDs provided")
        if len(ids) > RECORDS_DELETE_LIMIT:
            raise ApiError(422, f"Cannot delete more than {RECORDS_DELETE_LIMIT} records at once")
        if bad := [i for i in ids if not re.fullmatch(UUID_RE, i)]:
            raise ApiError(422, f"Invalid UUIDs: {bad}")
        for record_id in ids:
            if self.records.get(record_id, {}).get("dataset_id") == dataset_id:
                del self.records[record_id]
        return 204, None

    def _response_create(self, user, query, body, record_id):
        record = self._get(self.records, record_id)
        dataset = self.datasets[record["dataset_id"]]
        if user["role"] != "owner" and user["id"] not in self.members.get(dataset["workspace_id"], ()):
            raise ApiError(403, "Not a member of the dataset's workspace")
        if any(r["user_id"] == user["id"] for r in record["responses"]):
            raise ApiError(409, "This user already has a response for this record")
        self._check_response(dataset, body)
        response = _resource(values=body.get("values"), status=body["status"], user_id=user["id"], record_id=record_id)
        record["responses"].append(response)
        self._recount(record, dataset)
        return 201, response

    def _response_update(self, user, query, body, response_id):
        record, response = next(
            ((r, a) for r in self.records.values() for a in r["responses"] if a["id"] == response_id), (None, None)
        )
        if response is None:
            raise ApiError(404, f"Response with id `{response_id}` not found")
        if user["role"] != "owner" and user["id"] != response["user_id"]:
            raise ApiError(403, "Only the response's user may change it")
        dataset = self.datasets[record["dataset_id"]]
        self._check_response(dataset, body)
        response.update(values=body.get("values"), status=body["status"], updated_at=_now())
        self._recount(record, dataset)
        return 200, response

    def _check_response(self, dataset, body):
        if body.get("status") not in RESPONSE_STATUSES:
            raise ApiError(422, f"status must be one of {RESPONSE_STATUSES}")
        questions = {q["name"]: q for q in self.children("questions", dataset["id"])}
        values = body.get("values") or {}  # a draft or a discard may have none (null)
        if unknown := set(values) - set(questions):
            raise ApiError(422, f"found responses for non configured questions: {sorted(unknown)}")
        for name, answer in values.items():
            self._check_value(questions[name], answer["value"], body["status"])
        if body["status"] == "submitted" and (missing := [n for n, q in questions.items() if q["required"] and n not in values]):
            raise ApiError(422, f"missing response value for required question: {missing}")

    @staticmethod
    def _recount(record, dataset):
        # Only submitted responses count towards the distribution; drafts and discards do not.
        submitted = sum(r["status"] == "submitted" for r in record["responses"])
        record["status"] = "completed" if submitted >= dataset["distribution"]["min_submitted"] else "pending"


class _Handler(BaseHTTPRequestHandler):
    server_state: ArgillaTestServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's httpx client expects of Argilla
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart (Nagle and delayed ACKs)

    def log_message(self, *args):  # quiet
        pass

    def _serve(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        status, response = self.server_state.handle(
            self.command, parts.path.rstrip("/"), parse_qs(parts.query), body, self.headers.get("X-Argilla-Api-Key")
        )
        self.send_response(status)
        if status == 204:  # No Content: no body, as Argilla answers a deletion
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(response).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
