"""Each page renders for the people it is for, and says the right things."""

import json

import pytest
from django.urls import reverse

from annotation.models import Submission
from annotation.services.review import certification_grant, queue_create
from tests.conftest import PASSWORD, make_user
from tests.web.conftest import add_record, make_submission

pytestmark = pytest.mark.django_db


def test_home_shows_public_totals_per_language(client, submission_a, submission_b):
    html = client.get(reverse("home")).content.decode()
    assert "Deutsch" in html and "français" in html
    assert "345" in html  # German tokens
    assert reverse("submission_new") in html


def test_public_totals_leave_out_unfinished_submissions(client, partner_a, member_a, french):
    make_submission(partner=partner_a, uploader=member_a, language=french, status=Submission.Status.PROCESSING)
    html = client.get(reverse("languages")).content.decode()
    assert "français" not in html
    assert "No checked submissions yet." in html


def test_languages_page_lists_submissions_records_and_tokens(client, submission_a):
    response = client.get(reverse("languages"))
    assert response.status_code == 200
    row = response.context["totals"][0]
    assert (row["language__code"], row["submissions"], row["records"], row["tokens"]) == ("de", 1, 9, 345)


@pytest.mark.parametrize("name", ["dashboard", "submission_new"])
def test_private_pages_send_anonymous_visitors_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_anonymous_visitor_is_sent_to_login_for_a_submission(client, submission_a):
    for name in ("submission_detail", "submission_status"):
        response = client.get(reverse(name, args=[submission_a.pk]))
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_dashboard_lists_own_submissions_and_totals(login, member_a, submission_a, submission_b):
    response = login(member_a).get(reverse("dashboard"))
    html = response.content.decode()
    assert list(response.context["page"].object_list) == [submission_a]
    assert [row["language__code"] for row in response.context["totals"]] == ["de"]
    assert reverse("submission_detail", args=[submission_a.pk]) in html
    assert reverse("submission_detail", args=[submission_b.pk]) not in html


def test_dashboard_query_count_does_not_grow_with_submissions(
    login, member_a, partner_a, german, french, django_assert_max_num_queries
):
    for i in range(30):
        make_submission(partner=partner_a, uploader=member_a, language=german if i % 2 else french, tokens=i)
    client = login(member_a)
    with django_assert_max_num_queries(7):  # one of them: whether the navigation shows People
        response = client.get(reverse("dashboard"))
    assert len(response.context["page"].object_list) == 25


def test_submission_page_shows_figures_reasons_bad_lines_and_charts(login, member_a, submission_a):
    add_record(submission_a, 1, "Erster Datensatz.")
    html = login(member_a).get(reverse("submission_detail", args=[submission_a.pk])).content.decode()
    assert 'data-figure="records_accepted">9<' in html
    assert "too_short" in html and "Unreadable line" in html
    assert "line 7 is not valid JSON" in html
    assert "Mean word length (characters)" in html and "&lt; 2" in html and "4–5" in html and "≥ 12" in html
    assert "Unknown signal" in html
    assert "Erster Datensatz." in html
    assert "data-status-url" not in html  # finished: nothing to poll


def test_submission_page_query_count_does_not_grow_with_records(login, member_a, submission_a, django_assert_max_num_queries):
    for line in range(1, 31):
        add_record(submission_a, line, f"Datensatz {line}.")
    client = login(member_a)
    # One query asks which snapshots hold the submission (none here), one whether the navigation shows People.
    with django_assert_max_num_queries(6):
        response = client.get(reverse("submission_detail", args=[submission_a.pk]))
    assert len(response.context["records"]) == 20


def test_submission_page_polls_while_processing(login, member_a, partner_a, german):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german, status=Submission.Status.PROCESSING)
    html = login(member_a).get(reverse("submission_detail", args=[submission.pk])).content.decode()
    assert reverse("submission_status", args=[submission.pk]) in html
    assert "js/status.js" in html


def test_status_json_reports_status_progress_and_figures(login, member_a, submission_a):
    response = login(member_a).get(reverse("submission_status", args=[submission_a.pk]))
    data = json.loads(response.content)
    assert data["status"] == "ready" and data["progress"] == 100 and data["finished"] is True
    assert data["figures"]["records_accepted"] == 9


def test_status_says_when_only_the_last_step_is_left(login, member_a, submission_a):
    Submission.objects.filter(pk=submission_a.pk).update(status="processing", chunks_total=3, chunks_done=3)
    data = json.loads(login(member_a).get(reverse("submission_status", args=[submission_a.pk])).content)
    assert data["progress"] == 100 and data["status_display"] == "Finishing: near-duplicates and figures"


def test_quality_chart_numbers_are_grouped_in_the_readers_language():
    from django.utils import translation

    from annotation.web.presenters import quality_charts

    counts = [0] * 11 + [30000]
    with translation.override("de"):
        chart = quality_charts({"words": counts})[0]
    assert chart.bars[-1].label == "≥ 100.000" and chart.bars[1].label == "10–25"


def test_upload_form_offers_only_own_partners(login, member_a, partner_b):
    response = login(member_a).get(reverse("submission_new"))
    assert [p.slug for p in response.context["form"].fields["partner"].queryset] == ["alpha"]
    assert "Beta Bibliotheek" not in response.content.decode()


def _upload_data(partner, upload, **extra):
    return {
        "partner": partner.slug,
        "language": "de",
        "kind": "pretraining",
        "license": "CC-BY-4.0",
        "source": "Our own blog posts.",
        "consent": "on",
        "file": upload('{"text": "Guten Tag"}\n'),
        **extra,
    }


def test_upload_creates_submission_and_redirects_to_it(login, member_a, partner_a, upload):
    response = login(member_a).post(reverse("submission_new"), _upload_data(partner_a, upload))
    submission = Submission.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("submission_detail", args=[submission.pk])
    assert (submission.partner, submission.uploader, submission.language.code) == (partner_a, member_a, "de")


def test_upload_by_script_answers_json_with_the_submission_url(login, member_a, partner_a, upload):
    response = login(member_a).post(
        reverse("submission_new"), _upload_data(partner_a, upload), headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert response.status_code == 201
    assert response.json()["redirect"] == reverse("submission_detail", args=[Submission.objects.get().pk])


def test_upload_without_consent_shows_the_error(login, member_a, partner_a, upload):
    data = _upload_data(partner_a, upload)
    del data["consent"]
    response = login(member_a).post(reverse("submission_new"), data)
    assert response.status_code == 400
    assert "consent" in response.context["form"].errors
    assert not Submission.objects.exists()


def test_service_errors_become_form_errors(login, member_a, partner_a, upload):
    data = _upload_data(partner_a, upload, file=upload(b"", name="empty.jsonl"))
    response = login(member_a).post(reverse("submission_new"), data, headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 400
    assert "file" in response.context["form"].errors
    assert "<form" in response.content.decode() and "<html" not in response.content.decode()


def test_an_empty_file_shows_one_error(login, member_a, partner_a, upload):
    data = _upload_data(partner_a, upload, file=upload(b"", name="empty.jsonl"))
    response = login(member_a).post(reverse("submission_new"), data)
    assert response.status_code == 400
    assert len(response.context["form"].errors["file"]) == 1


def test_login_logout_and_password_reset_pages(client, member_a, mailoutbox):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "anna", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert client.get(reverse("logout")).status_code == 405  # logging out is a POST
    assert client.post(reverse("logout")).url == reverse("home")
    response = client.post(reverse("password_reset"), {"email": "anna@example.org"})
    assert response.status_code == 302 and len(mailoutbox) == 1
    assert "/accounts/reset/" in mailoutbox[0].body


def test_repeated_failed_logins_show_the_lockout_page(client, member_a, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        response = client.post(reverse("login"), {"username": "anna", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()


def test_member_without_partner_is_told_how_to_join(client):
    client.force_login(make_user("nobody"))
    html = client.get(reverse("submission_new")).content.decode()
    assert "not a member of any partner organisation" in html
    assert "<form method=\"post\" action=\"%s\"" % reverse("submission_new") not in html


def test_switching_language_shows_german(client):
    response = client.post(reverse("set_language"), {"language": "de", "next": reverse("languages")}, follow=True)
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert "Sprachen" in html and "Anmelden" in html


def test_every_page_has_landmarks_skip_link_and_language(login, member_a, submission_a):
    client = login(member_a)
    for url in [reverse("home"), reverse("dashboard"), reverse("submission_detail", args=[submission_a.pk])]:
        html = client.get(url).content.decode()
        assert '<html lang="en">' in html
        assert 'href="#main"' in html and '<main id="main"' in html
        assert "<header" in html and "<nav" in html and "<footer" in html
        assert f'action="{reverse("logout")}" method="post"' in html


def test_the_favicon_browsers_ask_for_is_found(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in client.get("/").content.decode()


def test_an_annotator_without_a_partner_finds_her_queues_on_the_dashboard(login, staff, german):
    annotator = make_user("ulla")
    certification_grant(granter=staff, user=annotator, language_code="de")
    queue = queue_create(creator=staff, language=german, kind="instruction", name="Deutsch: Anweisungen")
    html = login(annotator).get(reverse("dashboard")).content.decode()
    assert reverse("review_queue", args=[queue.pk]) in html
    assert "Upload your first file" not in html and reverse("submission_new") + '"' not in html.split("</header>")[1]


def test_partner_pages_link_to_the_models_trained_on_the_partners_data(login, member_a, partner_a, submission_a):
    client = login(member_a)
    models = reverse("partner_models", args=[partner_a.slug])
    assert models in client.get(reverse("dashboard")).content.decode()
    assert models in client.get(reverse("submission_detail", args=[submission_a.pk])).content.decode()
