"""Password change and reset: Django's views, with a throttle on each."""

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth import authenticate, forms, views
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from occiportal.ratelimit import rate_limit_hit

HOUR = 3600


class ThrottledPasswordChangeForm(forms.PasswordChangeForm):
    """The old password is checked through ``authenticate``, so django-axes counts failures and locks as at sign-in."""

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        user = authenticate(self.request, username=self.user.get_username(), password=old_password)
        if user is None or user.pk != self.user.pk:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class PasswordChangeView(views.PasswordChangeView):
    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordResetView(views.PasswordResetView):
    """Reset requests are limited per hour from one client address and for one e-mail address."""

    def form_valid(self, form):
        limits = settings.PASSWORD_RESET_LIMITS
        by_ip = rate_limit_hit(scope="reset-ip", key=get_client_ip_address(self.request) or "", limit=limits["ip"],
                               window_seconds=HOUR)  # fmt: skip
        by_email = rate_limit_hit(scope="reset-email", key=form.cleaned_data["email"].lower(), limit=limits["email"],
                                  window_seconds=HOUR)  # fmt: skip
        if by_ip or by_email:
            form.add_error("email", _("Too many password reset requests; please try again in an hour."))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)
