"""``{{ user|may_manage_people }}``: whether the navigation offers the People page."""

from django import template

from occiportal.selectors import may_manage_people as _may_manage_people

register = template.Library()


@register.filter
def may_manage_people(user) -> bool:
    return _may_manage_people(user)
