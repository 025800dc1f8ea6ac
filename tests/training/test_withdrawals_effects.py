"""What a withdrawal changes where people look: its page, its API, the totals; asking twice changes nothing."""

import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models import Sum
from django.urls import reverse

from annotation.models import Record, Submission
from tests.annotation.conftest import bare_submission, make_records
from tests.conftest import language, make_user
from training.models import Withdrawal
from training.services.withdrawals import withdrawal_create, withdrawal_get_or_create


def login(client, user):
    client.force_login(user)
    return client


def public_totals(client):
    rows = client.get(reverse("languages")).context["totals"]
    return {row["language__code"]: (row["submissions"], row["records"], row["tokens"]) for row in rows}


def tokens_of(records):
    return records.aggregate(n=Sum("tokens"))["n"] or 0


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_withdrawn_submission_shows_as_withdrawn_and_leaves_every_total(client, member_a, corpus):
    de, fr = corpus["de"], corpus["fr"]
    de_tokens, fr_tokens = tokens_of(de.records.all()), tokens_of(fr.records.all())
    assert de.tokens == de_tokens > 0
    assert public_totals(client) == {"de": (1, 60, de_tokens), "fr": (1, 30, fr_tokens)}
    login(client, member_a)
    assert [r["language__code"] for r in client.get(reverse("dashboard")).context["totals"]] == ["de"]

    response = client.post(reverse("submission_withdraw", args=[de.pk]), {"reason": "Rights ended."})
    assert response.status_code == 302

    # The page: a withdrawn badge, who and when and how much, and no second form.
    page = client.get(reverse("submission_detail", args=[de.pk])).content.decode()
    assert "badge-withdrawn" in page and "badge-ready" not in page
    assert reverse("submission_withdraw", args=[de.pk]) not in page
    assert 'id="withdraw-title"' not in page
    summary = page.split('data-withdrawn')[1].split("</section>")[0]
    assert "anna" in summary and "60" in summary and "<time" in summary
    # The ingest figures still describe the upload.
    assert 'data-figure="records_accepted">60<' in page

    # The API says so too, beside the unchanged ingest figures.
    body = client.get(f"/api/submissions/{de.pk}/").json()
    assert body["withdrawn_at"] and body["withdrawn_by"] == "anna"
    assert (body["withdrawn_records"], body["withdrawn_tokens"]) == (60, de_tokens)
    assert (body["status"], body["records_accepted"], body["tokens"]) == ("ready", 60, de_tokens)
    listed = client.get("/api/submissions/").json()["results"]
    assert [row["withdrawn_records"] for row in listed if row["id"] == de.pk] == [60]

    # The dashboard: no German total left, the row marked withdrawn.
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.context["totals"] == [] and dashboard.context["grand"]["records"] == 0
    assert "badge-withdrawn" in dashboard.content.decode()

    # The public pages: German is gone, French untouched.
    client.logout()
    assert public_totals(client) == {"fr": (1, 30, fr_tokens)}
    home = client.get(reverse("home")).context["grand"]
    assert (home["submissions"], home["records"], home["tokens"]) == (1, 30, fr_tokens)


def test_a_withdrawn_record_leaves_the_totals_but_the_submission_stays(client, member_b, corpus):
    fr = corpus["fr"]
    record = fr.records.order_by("line").first()
    fr_tokens = tokens_of(fr.records.all())
    login(client, member_b)

    response = client.post(reverse("withdrawals"), {"submission": fr.pk, "line": record.line})
    assert response.status_code == 302
    listed = client.get(reverse("withdrawals")).content.decode()
    assert f", line {record.line}<br>" in listed and "Text removal pending" in listed  # until the worker's follow-up

    assert public_totals(client)["fr"] == (1, 29, fr_tokens - record.tokens)
    body = client.get(f"/api/submissions/{fr.pk}/").json()
    assert body["withdrawn_at"] is None and body["withdrawn_by"] is None
    assert (body["withdrawn_records"], body["withdrawn_tokens"]) == (1, record.tokens)
    page = client.get(reverse("submission_detail", args=[fr.pk])).content.decode()
    assert "badge-ready" in page and "badge-withdrawn" not in page
    assert reverse("submission_withdraw", args=[fr.pk]) in page  # the rest can still be withdrawn
    assert "1 record of this submission was withdrawn" in page

    # Then the whole submission: the counters cover both, nothing twice.
    client.post(reverse("submission_withdraw", args=[fr.pk]))
    fr.refresh_from_db()
    assert (fr.withdrawn_records, fr.withdrawn_tokens) == (30, fr_tokens)
    assert Withdrawal.objects.filter(submission=fr).order_by("created_at").first().records_withdrawn == 1
    assert Withdrawal.objects.get(submission=fr, record=None).records_withdrawn == 29
    assert "fr" not in public_totals(client)


def test_withdrawing_twice_changes_nothing_and_says_so(client, member_a, corpus):
    de = corpus["de"]
    login(client, member_a)
    first = client.post(reverse("submission_withdraw", args=[de.pk]), {"reason": "Rights ended."})
    assert first.status_code == 302
    de.refresh_from_db()
    figures = (de.withdrawn_at, de.withdrawn_records, de.withdrawn_tokens)

    second = client.post(reverse("submission_withdraw", args=[de.pk]), {"reason": "Again."})
    assert second.status_code == 302
    assert any("already withdrawn" in m for m in messages_of(second))
    again = client.post(reverse("withdrawals"), {"submission": de.pk})
    assert any("already withdrawn" in m for m in messages_of(again))

    assert Withdrawal.objects.filter(submission=de).count() == 1
    de.refresh_from_db()
    assert (de.withdrawn_at, de.withdrawn_records, de.withdrawn_tokens) == figures
    rows = client.get(reverse("withdrawals")).context["rows"]
    assert [(w.submission_id, w.records_withdrawn) for w, _ in rows] == [(de.pk, 60)]
    # Nor is the withdrawn submission offered again on the withdrawals page's form.
    assert f'<option value="{de.pk}" disabled>' in client.get(reverse("withdrawals")).content.decode()

    # A record of a withdrawn submission is withdrawn already.
    record = de.records.first()
    response = client.post(reverse("withdrawals"), {"submission": de.pk, "line": record.line})
    assert any("already withdrawn" in m for m in messages_of(response))
    assert Withdrawal.objects.filter(submission=de).count() == 1


def test_withdrawing_a_record_twice_changes_nothing(client, member_b, corpus):
    fr = corpus["fr"]
    record = fr.records.first()
    login(client, member_b)
    client.post(reverse("withdrawals"), {"submission": fr.pk, "line": record.line})
    response = client.post(reverse("submission_withdraw", args=[fr.pk]), {"line": record.line})
    assert any("already withdrawn" in m for m in messages_of(response))
    assert Withdrawal.objects.filter(record=record).count() == 1
    fr.refresh_from_db()
    assert (fr.withdrawn_records, fr.withdrawn_tokens) == (1, record.tokens)


def test_the_service_says_whether_it_withdrew(corpus, member_a, member_b):
    de, fr = corpus["de"], corpus["fr"]
    withdrawal, created = withdrawal_get_or_create(user=member_a, submission=de, reason="Rights ended.")
    assert created and withdrawal.records_withdrawn == 60
    assert withdrawal_get_or_create(user=member_a, submission=de) == (withdrawal, False)
    assert withdrawal_create(user=member_a, submission=de) == withdrawal
    record = de.records.first()
    assert withdrawal_get_or_create(user=member_a, submission=de, record=record) == (withdrawal, False)
    de.refresh_from_db()
    assert de.withdrawn_by == member_a and de.withdrawn_records == 60

    single, created = withdrawal_get_or_create(user=member_b, submission=fr, record=fr.records.first())
    assert created and single.records_withdrawn == 1
    assert withdrawal_get_or_create(user=member_b, submission=fr, record=single.record) == (single, False)
    fr.refresh_from_db()
    assert fr.withdrawn_at is None and fr.withdrawn_records == 1


def test_a_submission_still_being_checked_cannot_be_withdrawn_yet(client, member_a, partner_a, german):
    from tests.web.conftest import make_submission

    pending = make_submission(partner=partner_a, uploader=member_a, language=german,
                              status=Submission.Status.PROCESSING)
    login(client, member_a)
    response = client.post(reverse("submission_withdraw", args=[pending.pk]))
    assert response.status_code == 302 and response.url == reverse("submission_detail", args=[pending.pk])
    assert any("checks" in m for m in messages_of(response))
    assert not Withdrawal.objects.exists()
    pending.refresh_from_db()
    assert pending.withdrawn_at is None


def test_public_totals_cost_the_same_few_queries_after_withdrawals(client, member_a, corpus,
                                                                   django_assert_max_num_queries):
    withdrawal_create(user=member_a, submission=corpus["de"])
    with django_assert_max_num_queries(2):
        response = client.get(reverse("languages"))
    assert response.status_code == 200


def _withdraw(submission, user, record, barrier, results, errors):
    try:
        barrier.wait()
        results.append(withdrawal_get_or_create(user=user, submission=submission, record=record))
    except Exception as error:  # reported by the test, not lost in the thread
        errors.append(error)
    finally:
        connection.close()


@pytest.mark.parametrize("single", [False, True], ids=["submission", "record"])
def test_two_withdrawals_at_once_make_one(transactional_db, partner_a, single):
    member = make_user("anna", partner=partner_a)
    submission = bare_submission(partner=partner_a, uploader=member, language=language("de"), kind="pretraining")
    records = make_records(submission, 40, tokens=7)
    Submission.objects.filter(pk=submission.pk).update(records_accepted=40, records_read=40, tokens=280)
    record = records[0] if single else None

    barrier, results, errors = threading.Barrier(4), [], []
    threads = [threading.Thread(target=_withdraw, args=(submission, member, record, barrier, results, errors))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert Withdrawal.objects.count() == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    submission.refresh_from_db()
    expected = (1, 7) if single else (40, 280)
    assert (submission.withdrawn_records, submission.withdrawn_tokens) == expected
    assert Record.objects.filter(submission=submission, status=Record.Status.WITHDRAWN).count() == expected[0]


def test_the_page_withdraws_a_record_by_the_line_it_shows(client, member_a, partner_a, german):
    from tests.web.conftest import add_record, make_submission

    archive = make_submission(partner=partner_a, uploader=member_a, language=german, name="docs.zip")
    first = add_record(archive, 1, "Eins.", origin="one.jsonl:1")
    second = add_record(archive, 2, "Zwei.", origin="two.jsonl:1")
    login(client, member_a)
    page = client.get(reverse("submission_detail", args=[archive.pk])).content.decode()
    assert 'name="line"' in page.split('id="withdraw-title"')[1]

    client.post(reverse("submission_withdraw", args=[archive.pk]), {"line": "two.jsonl: 1"})
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, second.status) == ("pending", Record.Status.WITHDRAWN)


def test_a_line_without_a_record_is_answered_beside_the_field(client, member_a, partner_a, german):
    from tests.web.conftest import add_record, make_submission

    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    record = add_record(submission, 1, "Eins.")
    login(client, member_a)
    response = client.post(reverse("submission_withdraw", args=[submission.pk]), {"line": "99", "reason": "Zu alt."})

    assert response.status_code == 400
    form = response.content.decode().split('id="withdraw-title"')[1]
    assert 'id="withdraw-line-error"' in form and "99" in form.split('id="withdraw-line-error"')[1].split("</ul>")[0]
    assert 'aria-invalid="true"' in form and 'value="99"' in form and "Zu alt." in form
    assert not messages_of(response)
    record.refresh_from_db()
    assert record.status == "pending"
