"""Pages anyone may read: what the portal is and what it holds per language."""

from django.shortcuts import render

from annotation import selectors
from annotation.web.presenters import grand_totals


def home(request):
    totals = selectors.public_language_totals()
    return render(request, "home.html", {"totals": totals, "grand": grand_totals(totals)})


def languages(request):
    totals = selectors.public_language_totals()
    return render(request, "languages.html", {"totals": totals, "grand": grand_totals(totals)})
