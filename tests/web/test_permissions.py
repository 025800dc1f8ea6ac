"""Who may see and submit what: someone else's submission is a 404, never a 403."""

import pytest
from django.urls import reverse

from annotation.models import Submission
from tests.web.conftest import add_record

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["submission_detail", "submission_status"])
def test_member_sees_own_partners_submission(login, member_a, submission_a, name):
    assert login(member_a).get(reverse(name, args=[submission_a.pk])).status_code == 200


@pytest.mark.parametrize("name", ["submission_detail", "submission_status"])
def test_other_partners_submission_is_not_found(login, member_a, submission_b, name):
    response = login(member_a).get(reverse(name, args=[submission_b.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["submission_detail", "submission_status"])
def test_missing_submission_looks_the_same_as_a_forbidden_one(login, member_a, name):
    assert login(member_a).get(reverse(name, args=[999_999])).status_code == 404


@pytest.mark.parametrize("name", ["submission_detail", "submission_status"])
def test_staff_sees_every_partners_submission(login, staff, submission_a, submission_b, name):
    client = login(staff)
    assert client.get(reverse(name, args=[submission_a.pk])).status_code == 200
    assert client.get(reverse(name, args=[submission_b.pk])).status_code == 200


def test_staff_dashboard_lists_all_partners(login, staff, submission_a, submission_b):
    response = login(staff).get(reverse("dashboard"))
    assert set(response.context["page"].object_list) == {submission_a, submission_b}


def test_member_cannot_submit_for_another_partner_by_forging_the_field(login, member_a, partner_b, upload):
    data = {
        "partner": partner_b.slug,
        "language": "de",
        "kind": "pretraining",
        "license": "CC-BY-4.0",
        "source": "Not ours.",
        "consent": "on",
        "file": upload('{"text": "Hallo"}\n'),
    }
    response = login(member_a).post(reverse("submission_new"), data)
    assert response.status_code == 400
    assert "partner" in response.context["form"].errors
    assert not Submission.objects.exists()


def test_staff_may_submit_for_any_partner(login, staff, partner_b, upload):
    data = {
        "partner": partner_b.slug,
        "language": "fr",
        "kind": "pretraining",
        "license": "CC0-1.0",
        "source": "Public domain books.",
        "consent": "on",
        "file": upload('{"text": "Bonjour"}\n'),
    }
    assert login(staff).post(reverse("submission_new"), data).status_code == 302
    assert Submission.objects.get().partner == partner_b


def test_record_text_is_escaped_on_the_submission_page(login, member_a, submission_a):
    add_record(submission_a, 1, '<script>alert("x")</script><b>bold</b>')
    html = login(member_a).get(reverse("submission_detail", args=[submission_a.pk])).content.decode()
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_file_name_source_and_errors_are_escaped(login, member_a, submission_a):
    Submission.objects.filter(pk=submission_a.pk).update(
        original_name="<img src=x onerror=alert(1)>.jsonl",
        source="<script>evil()</script>",
        errors=[{"line": 1, "message": "<script>bad()</script>"}],
        rejection_reasons={"<i>reason</i>": 1},
    )
    html = login(member_a).get(reverse("submission_detail", args=[submission_a.pk])).content.decode()
    assert "<img src=x" not in html and "<script>evil" not in html
    assert "<script>bad" not in html and "<i>reason</i>" not in html
