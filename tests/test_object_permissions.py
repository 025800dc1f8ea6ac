"""Every URL that names an object checks the object, not only the page.

The sweep walks the whole URLconf. Each route with a path parameter naming an
object is in ``ROUTES`` (how to name Beta's object) or in ``PUBLIC`` (why it is
open by design); a new route in neither fails ``test_every_object_route_is_covered``.
Alpha's people (a member, a partner admin, a reviewer and the lead of another
language) and anonymous visitors ask for Beta's objects with every method the
view takes and an empty body: the answer is 403, 404 (405 for a method the
view refuses) or a redirect to sign in, never a success and never a 500. Each
route's owner opens the same URL, so a refusal is never just a wrong URL.

Routes without object parameters that read an object id from the body are in
``BODY_CASES``; every admin URL with an object parameter is swept as it is
(the admin shows all rows to staff, and signs in anyone else first).
"""

import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlparse

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from annotation.models import Certification, ReviewQueue, Submission
from occiportal.models import Invitation, LanguageRole
from training.models import Withdrawal

from .permissions_world import World, build_world

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
A_SIDE = ("member_a", "admin_a", "reviewer_de", "lead_de", "anonymous")


@dataclass(frozen=True)
class Route:
    cases: Callable[[World], list[list]]  # each case: the path arguments naming one object of Beta's (or staff's)
    methods: tuple[str, ...] = ("GET",)
    owner: str | None = None  # who opens it (GET, 200): the arguments name a real object
    open_to: frozenset[str] = frozenset()  # Alpha's actors it is open to by design
    query: str = ""
    headers: dict = field(default_factory=dict)


def _invitations(w):
    return [[w.invitation_partner.pk], [w.invitation_language.pk], [w.invitation_mixed.pk]]


def _both_runs(w):
    # The unpublished run is staff's alone; the published one is public to read (the leaderboard's), staff's to change.
    return [[w.run.pk], [w.published_run.pk]]


ROUTES: dict[str, Route] = {
    # Submissions: the partner's own (access_submission).
    "submission_detail": Route(lambda w: [[w.submission.pk]], owner="member_b"),
    "submission_status": Route(lambda w: [[w.submission.pk]], owner="member_b"),
    "submission_withdraw": Route(lambda w: [[w.submission.pk]], methods=("POST",)),
    "api:submission": Route(lambda w: [[w.submission.pk]], methods=("GET", "PUT", "PATCH", "DELETE"), owner="member_b"),
    "api:submission-lines": Route(lambda w: [[w.submission.pk]], owner="member_b", query="figure=records_rejected"),
    "api_submission_withdraw": Route(lambda w: [[w.submission.pk]], methods=("POST",)),
    # Resumable uploads: the uploader's own, whoever their partner.
    "api:upload": Route(lambda w: [[w.upload.pk]], methods=("HEAD", "PATCH", "DELETE"), owner="member_b", headers=TUS),
    # Review: queues of the languages one annotates or leads; one's own items; decisions and certifications one leads.
    "review_queue": Route(lambda w: [[w.queue.pk]], owner="annotator_fr"),
    "review_next": Route(lambda w: [[w.queue.pk]], methods=("POST",)),
    "review_write": Route(lambda w: [[w.queue.pk]], methods=("GET", "POST"), owner="annotator_fr"),
    "review_item": Route(lambda w: [[w.assignment.pk]], methods=("GET", "POST"), owner="annotator_fr"),
    "review_adjudicate": Route(lambda w: [[w.decision.pk]], methods=("POST",)),
    "review_certifications": Route(lambda w: [["fr"]], methods=("GET", "POST"), owner="lead_fr"),
    # The German lead's own language in the URL does not open a French certification.
    "review_certification_withdraw": Route(lambda w: [["fr", w.certification.pk], ["de", w.certification.pk]],
                                           methods=("POST",)),  # fmt: skip
    "api:review-claim": Route(lambda w: [[w.queue.pk]], methods=("POST",)),
    "api:review-stats": Route(lambda w: [[w.queue.pk]], owner="annotator_fr"),
    "api:review-write": Route(lambda w: [[w.queue.pk]], methods=("POST",)),
    "api:review-submit": Route(lambda w: [[w.assignment.pk]], methods=("POST",)),
    "api:review-certification-withdraw": Route(lambda w: [[w.certification.pk]], methods=("POST",)),
    "api:review-adjudicate": Route(lambda w: [[w.decision.pk]], methods=("POST",)),
    # People: invitations a partner admin or language lead manages, lead roles in a language one leads.
    "invitation_resend": Route(_invitations, methods=("POST",)),
    "invitation_revoke": Route(_invitations, methods=("POST",)),
    "api:invitation-resend": Route(_invitations, methods=("POST",)),
    "api:invitation-revoke": Route(_invitations, methods=("POST",)),
    "lead_remove": Route(lambda w: [[w.lead_role.pk]], methods=("POST",)),
    # Snapshots: Beta's data only, so Alpha's people neither see nor download it; defining and comparing is staff's.
    "snapshot_detail": Route(lambda w: [[w.snapshot.pk]], owner="member_b"),
    "snapshot_status": Route(lambda w: [[w.snapshot.pk]], owner="member_b"),
    "snapshot_hub_push": Route(lambda w: [[w.snapshot.pk]], methods=("POST",)),
    "snapshot_compare": Route(lambda w: [[w.snapshot.pk, w.other_snapshot.pk]], owner="staff"),
    "snapshot_files": Route(lambda w: [[w.snapshot.pk]], owner="staff"),
    "snapshot_file": Route(lambda w: [[w.snapshot.pk, "manifest.json"], [w.snapshot.pk, "fr/train-00000.parquet"]],
                           owner="member_b"),  # fmt: skip
    "api_snapshot_detail": Route(lambda w: [[w.snapshot.pk]], owner="member_b"),
    "api_snapshot_file": Route(lambda w: [[w.snapshot.pk, "manifest.json"], [w.snapshot.pk, "fr/train-00000.parquet"]],
                               owner="member_b"),  # fmt: skip
    # Runs and what they are measured with.
    "run_detail": Route(lambda w: [[w.run.pk]], owner="staff"),
    "run_status": Route(lambda w: [[w.run.pk]], owner="staff"),
    "run_cancel": Route(_both_runs, methods=("POST",)),
    "run_publish": Route(_both_runs, methods=("POST",)),
    "run_rerun": Route(_both_runs, methods=("POST",)),
    "run_compare_pick": Route(_both_runs, owner="staff", query="other=1"),
    "run_compare": Route(lambda w: [[w.run.pk, w.published_run.pk], [w.published_run.pk, w.published_run.pk]],
                         owner="staff"),  # fmt: skip
    "api_run_detail": Route(lambda w: [[w.run.pk]], owner="staff"),
    "api_run_cancel": Route(_both_runs, methods=("POST",)),
    "api_run_rerun": Route(_both_runs, methods=("POST",)),
    "api_run_compare": Route(lambda w: [[w.run.pk, w.published_run.pk], [w.published_run.pk, w.published_run.pk]],
                             owner="staff"),  # fmt: skip
    "evaluation_results": Route(lambda w: [[w.evaluation.pk]]),  # no results file: 404 for staff too
    "partner_models": Route(lambda w: [[w.partner_b.slug]], owner="member_b"),
    # Suites are the collective's: staff and every language lead read them (suite_selectors.may_manage_suites).
    "suite_detail": Route(lambda w: [[w.suite.pk]], owner="lead_fr", open_to=frozenset({"lead_de"})),
}

PUBLIC = {
    "review_leaderboard": "a language's contributors, shown to everyone signed in",
    "review_leaderboard_preference": "the signed-in person's own preference; the code names the page to go back to",
    "invitation_accept": "the token is the secret: whoever holds the mailed link may accept",
    "password_reset_confirm": "Django's reset link: the uid and token are the secret",
}


def url_patterns(resolver=None, prefix="", namespace=None):
    """(route, name, converters) for every pattern of the URLconf, namespaces included."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace])) or None
            yield from url_patterns(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield prefix + str(entry.pattern), name, getattr(entry.pattern, "converters", {})


def object_routes() -> dict[str, str]:
    """Name → route for each pattern outside the admin with a path parameter."""
    routes = {}
    for route, name, converters in url_patterns():
        if route.startswith("admin/") or not (converters or re.search(r"\(\?P<", route)):
            continue
        routes[name or route] = route
    return routes


def test_every_object_route_is_covered():
    routes = object_routes()
    missing = sorted(set(routes) - set(ROUTES) - set(PUBLIC))
    assert not missing, (
        "Routes with object parameters that the permission sweep does not cover: "
        + ", ".join(f"{name} ({routes[name]})" for name in missing)
        + ". Add each to ROUTES in tests/test_object_permissions.py (how to name partner B's object), or to PUBLIC "
        "with the reason it is open by design."
    )
    stale = sorted((set(ROUTES) | set(PUBLIC)) - set(routes))
    assert not stale, f"ROUTES or PUBLIC name routes the URLconf no longer has: {', '.join(stale)}"


@pytest.fixture
def world(settings, tmp_path, partner_a, partner_b, member_a, staff, german, french):
    settings.DATA_DIR = tmp_path / "data"
    return build_world(partner_a=partner_a, partner_b=partner_b, member_a=member_a, staff=staff, german=german,
                       french=french)  # fmt: skip


def client_for(world, actor) -> Client:
    client = Client(raise_request_exception=False)  # a 500 is a finding to list, not the end of the sweep
    if actor != "anonymous":
        client.force_login(world.users[actor])
    return client


def send(client, method, url, route: Route):
    kwargs = dict(route.headers)
    if method == "PATCH" and route.headers == TUS:  # tus: the next bytes, from offset 0
        kwargs.update(content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET="0")
    return getattr(client, method.lower())(url, **kwargs)


def _url(name, args, route: Route) -> str:
    url = reverse(name, args=args)
    return f"{url}?{route.query}" if route.query else url


LOGIN_PATHS = {"/accounts/login/", "/admin/login/"}


def refused(response, *, anonymous: bool) -> bool:
    """403/404 (405 for a method the view does not take), a sign-in redirect; 401 for nobody signed in."""
    if response.status_code in (403, 404, 405) or (anonymous and response.status_code == 401):
        return True
    return response.status_code == 302 and urlparse(response["Location"]).path in LOGIN_PATHS


@pytest.mark.parametrize("actor", A_SIDE)
def test_nobody_reaches_another_partners_objects(world, actor):
    client, holes = client_for(world, actor), []
    for name, route in ROUTES.items():
        if actor in route.open_to:
            continue
        for args in route.cases(world):
            url = _url(name, args, route)
            for method in route.methods:
                response = send(client, method, url, route)
                if not refused(response, anonymous=actor == "anonymous"):
                    holes.append(f"{method} {url} ({name}) → {response.status_code} {response.get('Location', '')}")
    assert not holes, f"{actor} reached partner B's (or staff's) objects:\n" + "\n".join(holes)


def test_the_owners_open_the_same_urls(world):
    """The sweep's URLs name real objects: those they belong to open them."""
    failures = []
    for name, route in ROUTES.items():
        if route.owner is None:
            continue
        client = client_for(world, route.owner)
        method = "HEAD" if "HEAD" in route.methods else "GET"
        for args in route.cases(world):
            url = _url(name, args, route)
            if name in ("snapshot_file", "api_snapshot_file") and args[1].endswith(".parquet"):
                continue  # a partner sees its snapshot's card and manifest, not the shards
            status = send(client, method, url, route).status_code
            if status not in (200, 302):
                failures.append(f"{route.owner}: {method} {url} ({name}) → {status}")
    assert not failures, "\n".join(failures)


def test_public_object_routes_still_want_a_sign_in_where_they_say(world, client):
    assert client.get(reverse("review_leaderboard", args=["fr"])).status_code == 302
    assert client.post(reverse("review_leaderboard_preference", args=["fr"])).status_code == 302
    assert client.get(reverse("invitation_accept", args=["not-a-token"])).status_code == 404


@dataclass(frozen=True)
class BodyCase:
    """A route without object parameters that names an object in its body: who sends what, and what must not change."""

    actor: str
    name: str
    data: Callable[[World], dict]
    unchanged: Callable[[], int]  # a count the refusal leaves as it was
    json: bool = False


BODY_CASES = {
    "withdraw another partner's submission by form": BodyCase(
        "member_a", "withdrawals", lambda w: {"submission": w.submission.pk, "reason": "mine now"},
        lambda: Withdrawal.objects.count(),
    ),
    "submit another member's finished upload": BodyCase(
        "member_a", "api:submissions",
        lambda w: {"partner": "alpha", "language": "de", "kind": "instruction", "license": "CC-BY-4.0", "source": "x",
                   "consent": True, "upload": str(w.upload.pk)},
        lambda: Submission.objects.count(), json=True,
    ),  # fmt: skip
    "submit for another partner": BodyCase(
        "member_a", "api:submissions",
        lambda w: {"partner": "beta", "language": "de", "kind": "instruction", "license": "CC-BY-4.0", "source": "x",
                   "consent": True, "upload": str(w.upload.pk)},
        lambda: Submission.objects.count(), json=True,
    ),  # fmt: skip
    "open a queue in a language one does not lead": BodyCase(
        "lead_de", "api:review-queues", lambda w: {"name": "fr", "language": "fr", "kind": "instruction"},
        lambda: ReviewQueue.objects.count(), json=True,
    ),
    "certify in a language one does not lead": BodyCase(
        "lead_de", "api:review-certifications", lambda w: {"user": "ada", "language_code": "fr"},
        lambda: Certification.objects.count(), json=True,
    ),
    "invite into another partner": BodyCase(
        "admin_a", "api:invitations", lambda w: {"email": "x@example.org", "role": "member", "partner": "beta"},
        lambda: Invitation.objects.count(), json=True,
    ),
    "invite by page into another partner": BodyCase(
        "admin_a", "invitation_new",
        lambda w: {"email": "x@example.org", "role": "member", "partner": "beta", "mail_language": "en"},
        lambda: Invitation.objects.count(),
    ),
    "make a lead of a language one does not lead": BodyCase(
        "lead_de", "lead_new", lambda w: {"username": "ada", "language": "fr"}, lambda: LanguageRole.objects.count(),
    ),
}


@pytest.mark.parametrize("case", BODY_CASES.values(), ids=BODY_CASES.keys())
def test_objects_named_in_the_body_are_checked_too(world, case):
    before, client = case.unchanged(), client_for(world, case.actor)
    data = case.data(world)
    response = client.post(reverse(case.name), data, content_type="application/json") if case.json else client.post(
        reverse(case.name), data
    )
    assert response.status_code in (400, 403, 404), (response.status_code, response.content[:300])
    assert case.unchanged() == before


def admin_urls(world) -> list[str]:
    """Every admin URL with an object parameter, naming a real row of its model where there is one."""
    ids = {}
    for model in admin.site._registry:
        row = model._default_manager.order_by("pk").first()
        ids[f"{model._meta.app_label}/{model._meta.model_name}"] = str(row.pk if row else 1)
    content_type = ContentType.objects.get_for_model(Submission).pk
    urls = []
    for route, _name, converters in url_patterns():
        if not route.startswith("admin/") or not converters:
            continue
        model = "/".join(route.split("/")[1:3])
        object_id = str(world.submission.pk) if "content_type" in route else ids.get(model, "1")
        url = "/" + route.replace("<path:content_type_id>", str(content_type)).replace("<path:object_id>", object_id)
        urls.append(url)
    return urls


@pytest.mark.parametrize("actor", ["member_a", "lead_de", "anonymous"])
def test_the_admin_is_for_staff_only(world, actor):
    """The admin shows every partner's rows to staff by design; anyone else is sent to its sign-in page."""
    client, holes = client_for(world, actor), []
    urls = admin_urls(world)
    assert len(urls) > 50
    for url in urls:
        for method in ("GET", "POST"):
            response = getattr(client, method.lower())(url)
            if not (response.status_code == 302 and urlparse(response["Location"]).path == "/admin/login/"):
                holes.append(f"{method} {url} → {response.status_code}")
    assert not holes, "\n".join(holes)
