"""A stand-in Hugging Face Hub for the snapshot push tests: repos, commits, LFS blobs and tags in memory.

It answers exactly the calls ``huggingface_hub`` 2.4 makes for
``create_repo(private=True, repo_type="dataset", exist_ok=True)``,
``repo_info``, ``list_repo_files``, ``preupload_lfs_files``,
``create_commit`` and ``create_tag`` (``training/services/hub.py``), with
the request and response shapes of ``hf_api.py``, ``_commit_api.py`` and
``lfs.py``, and it checks what the Hub checks on the way: the token, that
the repo exists, that every uploaded blob hashes to its oid, that a commit
names only uploaded blobs and existing files. Every exchange is kept in
``exchanges``; ``refuse`` makes an endpoint answer an error, as a failing
Hub or blob store would. Blobs go up by the LFS "basic" transfer: the tests turn
hf_xet off (``constants.HF_HUB_DISABLE_XET``, the ``HF_HUB_DISABLE_XET``
variable read at import), since with it installed the library sends blobs
to Xet storage, not to the Hub.

Endpoints, as the library calls them (``{repo}`` is ``namespace/name``,
``{rev}`` a URL-quoted revision):

``POST /api/repos/create``
    ``{"name", "organization", "type": "dataset", "visibility": "private"}``
    (2.x sends ``visibility``, not ``private``) → ``{"url"}``; an existing
    repo is 409 ``{"error", "url"}``, which ``exist_ok`` accepts, reading ``url``.
``GET /api/datasets/{repo}`` (and ``/revision/{rev}``)
    → ``{"id", "private", "sha", "siblings": [{"rfilename"}]}`` (``repo_info``).
``GET /api/datasets/{repo}/tree/{rev}?recursive=True&expand=False``
    → ``[{"type": "file"|"directory", "path", "oid", "size", "lfs"?}]``, paged
    by a ``Link: <…>; rel="next"`` header (one page here) (``list_repo_files``).
``POST /api/validate-yaml``
    ``{"content", "repoType"}`` → ``{"errors": [], "warnings": []}``; 400 with
    errors when the README's YAML header does not parse (``create_commit``).
``POST /api/datasets/{repo}/preupload/{rev}``
    ``{"files": [{"path", "sample": base64 of the first 512 bytes, "size"}]}`` →
    ``{"files": [{"path", "uploadMode": "lfs"|"regular", "shouldIgnore", "oid"}]}``;
    ``oid`` is the stored file's (sha256 for LFS, git blob sha1 otherwise), so
    unchanged files drop out of the commit.
``POST /datasets/{repo}.git/info/lfs/objects/batch``
    ``{"operation": "upload", "transfers": ["basic", "multipart"], "objects":
    [{"oid": sha256, "size"}], "hash_algo": "sha256", "ref": {"name"}}`` →
    ``{"transfer": "basic", "objects": [{"oid", "size", "actions": {"upload":
    {"href"}, "verify": {"href"}}}]}``; no ``actions`` for a blob already stored.
``PUT /lfs/{oid}?signature=…``
    the raw bytes (``Content-Length`` or chunked) to the signed ``href``, with no
    token, as to S3 from the real Hub; 400 unless they hash to ``oid``.
``POST /lfs/{oid}/verify``
    ``{"oid", "size"}`` → 200 once the blob is stored.
``POST /api/datasets/{repo}/commit/{rev}``
    NDJSON (``application/x-ndjson``): ``{"key": "header", "value": {"summary",
    "description"}}`` then ``file`` (``{"path", "content": base64, "encoding"}``),
    ``lfsFile`` (``{"path", "algo": "sha256", "oid", "size"}``), ``deletedFile`` /
    ``deletedFolder`` (``{"path"}``) lines → ``{"commitOid", "commitUrl"}``.
``POST /api/datasets/{repo}/tag/{rev}``
    ``{"tag"}`` → 200; 409 if the tag exists (``exist_ok`` accepts it).
"""

import base64
import hashlib
import json
import re
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.stand_in_server import StandInServer

TOKEN = "hf_test_token"
REPO = r"([\w.-]+/[\w.-]+)"
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


class HubError(Exception):
    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.body = status, {"error": message, **extra}


@dataclass
class Exchange:
    method: str
    path: str
    query: dict
    headers: dict
    body: object
    status: int
    response: object


@dataclass
class Repo:
    repo_id: str
    private: bool
    files: dict = field(default_factory=dict)  # path -> ("regular", bytes) | ("lfs", sha256)
    commits: list = field(default_factory=list)  # {"oid", "summary", "files"}, oldest first
    tags: dict = field(default_factory=dict)

    @property
    def head(self) -> str:
        return self.commits[-1]["oid"]


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubTestServer(StandInServer):
    """``with HubTestServer() as hub:``; ``hub.url`` is the endpoint, ``TOKEN`` the token it accepts."""

    def __init__(self):
        super().__init__(_Handler)
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}  # LFS storage, by sha256
        self.refusals: list[tuple[str, re.Pattern, int, str]] = []
        self._lock = threading.Lock()
        self._routes = [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in self._table()]

    # ---- test-side helpers -------------------------------------------------

    def add_repo(self, repo_id: str, *, private: bool) -> Repo:
        repo = Repo(repo_id, private)
        repo.files[".gitattributes"] = ("regular", GITATTRIBUTES)
        repo.commits.append({"oid": self._oid(repo, "initial commit"), "summary": "initial commit", "files": dict(repo.files)})
        self.repos[repo_id] = repo
        return repo

    def file_bytes(self, repo_id: str, path: str, revision: str | None = None) -> bytes:
        repo = self.repos[repo_id]
        files = repo.files if revision is None else self._commit(repo, revision)["files"]
        kind, value = files[path]
        return value if kind == "regular" else self.blobs[value]

    def refuse(self, method: str, pattern: str, status: int, message: str) -> None:
        """Answer ``status`` with ``{"error": message}`` to every ``method`` request whose path matches ``pattern``."""
        self.refusals.append((method, re.compile(f"^{pattern}$"), status, message))

    def calls(self) -> list[tuple[str, str]]:
        return [(e.method, e.path) for e in self.exchanges]

    # ---- dispatch ----------------------------------------------------------

    def handle(self, method, path, query, headers, raw: bytes):
        with self._lock:
            body = raw
            try:
                for refused_method, pattern, status, message in self.refusals:
                    if refused_method == method and pattern.match(path):
                        raise HubError(status, message)
                for route_method, pattern, handler in self._routes:
                    if route_method == method and (match := pattern.match(path)):
                        # Blob PUTs go to storage with a signed URL and no token, as to S3 from the real Hub.
                        signed = method == "PUT" and query.get("signature") == [self._signature(match.group(1))]
                        if not signed and headers.get("authorization") != f"Bearer {TOKEN}":
                            raise HubError(401, "Invalid credentials in Authorization header")
                        body = self._decode(headers, raw)
                        status, response = handler(query, body, *map(unquote, match.groups()))
                        break
                else:
                    raise HubError(404, f"No route {method} {path}")
            except HubError as error:
                status, response = error.status, error.body
            except Exception:  # a bug here: answer 500 with the traceback, as a test failure would want
                status, response = 500, {"error": traceback.format_exc()}
            self.exchanges.append(Exchange(method, path, query, headers, body, status, response))
            return status, response

    @staticmethod
    def _decode(headers, raw: bytes):
        kind = headers.get("content-type", "")
        if kind.startswith("application/x-ndjson"):
            return [json.loads(line) for line in raw.splitlines() if line.strip()]
        if "json" in kind and raw:
            return json.loads(raw)
        return raw

    def _table(self):
        d = f"/api/datasets/{REPO}"
        return [
            ("POST", "/api/repos/create", self._create),
            ("GET", d, self._info),
            ("GET", f"{d}/revision/([^/]+)", self._info),
            ("GET", f"{d}/tree/([^/]+)", self._tree),
            ("POST", "/api/validate-yaml", self._validate_yaml),
            ("POST", f"{d}/preupload/([^/]+)", self._preupload),
            ("POST", f"/datasets/{REPO}\\.git/info/lfs/objects/batch", self._lfs_batch),
            ("PUT", "/lfs/([0-9a-f]{64})", self._lfs_put),
            ("POST", "/lfs/([0-9a-f]{64})/verify", self._lfs_verify),
            ("POST", f"{d}/commit/([^/]+)", self._commit_create),
            ("POST", f"{d}/tag/([^/]+)", self._tag_create),
        ]

    # ---- repos -------------------------------------------------------------

    def _repo(self, repo_id) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, "Repository not found")
        return self.repos[repo_id]

    def _commit(self, repo: Repo, revision: str) -> dict:
        if revision == "main":
            return repo.commits[-1]
        oid = repo.tags.get(revision, revision)
        for commit in repo.commits:
            if commit["oid"] == oid:
                return commit
        raise HubError(404, f"Invalid rev id: {revision}")

    def _oid(self, repo: Repo, summary: str) -> str:
        return hashlib.sha1(f"{repo.repo_id}:{len(repo.commits)}:{summary}".encode()).hexdigest()

    def _create(self, query, body):
        if body.get("type") != "dataset":
            raise HubError(400, "only dataset repos here")
        repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
        url = f"{self.url}/datasets/{repo_id}"
        if repo_id in self.repos:
            raise HubError(409, "You already created this dataset repo", url=url)
        self.add_repo(repo_id, private=body.get("visibility") == "private" or body.get("private") is True)
        return 200, {"url": url, "name": repo_id}

    def _info(self, query, body, repo_id, revision="main"):
        repo = self._repo(repo_id)
        commit = self._commit(repo, revision)
        return 200, {"id": repo_id, "private": repo.private, "sha": commit["oid"],
                     "siblings": [{"rfilename": path} for path in sorted(commit["files"])]}

    def _tree(self, query, body, repo_id, revision):
        commit = self._commit(self._repo(repo_id), revision)
        entries, folders = [], set()
        for path, (kind, value) in sorted(commit["files"].items()):
            data = value if kind == "regular" else self.blobs[value]
            entry = {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
            if kind == "lfs":
                entry["lfs"] = {"oid": value, "size": len(data), "pointerSize": 132}
            entries.append(entry)
            folders.update("/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1))
        entries += [{"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()} for folder in sorted(folders)]
        return 200, entries

    def _validate_yaml(self, query, body):
        content = body["content"]
        match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        try:
            header = yaml.safe_load(match.group(1)) if match else None
        except yaml.YAMLError as error:
            header = error
        if not isinstance(header, dict):
            raise HubError(400, "Invalid metadata", errors=[{"message": f"YAML metadata does not parse: {header!r}"}])
        return 200, {"errors": [], "warnings": []}

    # ---- uploads -----------------------------------------------------------

    def _preupload(self, query, body, repo_id, revision):
        repo = self._repo(repo_id)
        files = []
        for item in body["files"]:
            # The Hub sends binary and large files to LFS; .gitattributes names Parquet.
            lfs = item["path"].endswith(".parquet") or item["size"] > 10 * 2**20 or b"\0" in base64.b64decode(item["sample"])
            stored = repo.files.get(item["path"])
            oid = None
            if stored:
                oid = stored[1] if stored[0] == "lfs" else git_blob_sha1(stored[1])
            files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return 200, {"files": files, "commitOid": repo.head}

    def _lfs_batch(self, query, body, repo_id):
        self._repo(repo_id)
        if body["operation"] != "upload" or "basic" not in body["transfers"] or body.get("hash_algo") != "sha256":
            raise HubError(422, "unsupported batch request")
        objects = []
        for obj in body["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.blobs:
                signed = f"{self.url}/lfs/{obj['oid']}?signature={self._signature(obj['oid'])}"
                entry["actions"] = {"upload": {"href": signed, "header": {}},
                                    "verify": {"href": f"{self.url}/lfs/{obj['oid']}/verify", "header": {}}}
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects}

    def _signature(self, oid: str) -> str:
        return hashlib.sha256(f"{id(self)}:{oid}".encode()).hexdigest()[:32]

    def _lfs_put(self, query, body, oid):
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "uploaded bytes do not match the oid")
        self.blobs[oid] = body
        return 200, {}

    def _lfs_verify(self, query, body, oid):
        if oid not in self.blobs or len(self.blobs[oid]) != body["size"]:
            raise HubError(404, "object not uploaded")
        return 200, {}

    def _commit_create(self, query, lines, repo_id, revision):
        repo = self._repo(repo_id)
        if revision != "main":
            raise HubError(400, "commits go to main here")
        header, *operations = lines
        if header["key"] != "header":
            raise HubError(400, "the first line must be the header")
        files = dict(repo.files)
        for op in operations:
            key, value = op["key"], op["value"]
            if key == "file":
                files[value["path"]] = ("regular", base64.b64decode(value["content"]))
            elif key == "lfsFile":
                if value["oid"] not in self.blobs or len(self.blobs[value["oid"]]) != value.get("size", len(self.blobs[value["oid"]])):
                    raise HubError(422, f"LFS file {value['path']} was not uploaded")
                files[value["path"]] = ("lfs", value["oid"])
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {value['path']}")
            elif key == "deletedFolder":
                files = {p: f for p, f in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            else:
                raise HubError(400, f"unknown operation {key}")
        oid = self._oid(repo, header["value"]["summary"])
        repo.commits.append({"oid": oid, "summary": header["value"]["summary"], "files": files})
        repo.files = files
        return 200, {"success": True, "commitOid": oid, "commitUrl": f"{self.url}/datasets/{repo_id}/commit/{oid}"}

    def _tag_create(self, query, body, repo_id, revision):
        repo = self._repo(repo_id)
        commit = self._commit(repo, revision)
        if body["tag"] in repo.tags:
            raise HubError(409, f"Tag {body['tag']} already exists")
        repo.tags[body["tag"]] = commit["oid"]
        return 200, {}


class _Handler(BaseHTTPRequestHandler):
    server_state: HubTestServer
    protocol_version = "HTTP/1.1"  # keep-alive, as huggingface_hub's httpx client expects

    def log_message(self, *args):  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, up to the empty line
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self):
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, response = self.server_state.handle(self.command, parts.path, parse_qs(parts.query), headers, self._body())
        data = json.dumps(response).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _serve
