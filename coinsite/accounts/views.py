import ipaddress
from urllib.parse import urlencode

import django_otp
from allauth.account.stages import LoginStageController
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.http import require_POST
from django_countries import countries
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts import country, services, staff_enrollment, sudo, two_factor
from coinsite.accounts.forms import CodeForm, ConfirmIdentityForm, EmailCodeForm, EnrollForm, ProfileForm
from coinsite.accounts.http import AuthenticatedRequest
from coinsite.accounts.models import CountryChange, User
from coinsite.accounts.stages import TwoFactorStage
from coinsite.lib import resume
from coinsite.lib.access import has_two_factor, sudo_is_fresh, sudo_mark_fresh, sudo_required
from coinsite.lib.l10n import format_date_local, language_or_default, time_zone
from coinsite.lib.urls import safe_next

FAILURES_SESSION_KEY = "coinsite_2fa_failures"


def two_factor_login(request: HttpRequest) -> HttpResponse:
    """The 2FA login stage: the password was right, now the code."""
    stage = LoginStageController.enter(request, TwoFactorStage.key)
    if stage is None:
        return redirect("account_login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = two_factor.code_verify(user=stage.login.user, code=form.cleaned_data["code"])
        except two_factor.CodeRefused as refusal:
            failures = request.session.get(FAILURES_SESSION_KEY, 0) + 1
            request.session[FAILURES_SESSION_KEY] = failures
            if failures >= settings.TWO_FACTOR_MAX_FAILURES:
                request.session.pop(FAILURES_SESSION_KEY, None)
                messages.error(request, _("Too many wrong codes. Log in again to retry."))
                return stage.abort()
            form.add_error("code", str(refusal))
        else:
            request.session.pop(FAILURES_SESSION_KEY, None)
            response = stage.exit()
            django_otp.login(request, device)
            return response
    return render(request, "accounts/two_factor_login.html", {"form": form})


@login_required
def security(request: AuthenticatedRequest) -> HttpResponse:
    devices = [d for d in devices_for_user(request.user, confirmed=True) if isinstance(d, TOTPDevice)]
    return render(
        request,
        "accounts/security.html",
        {
            "authenticators": devices,
            "backup_codes_remaining": two_factor.backup_codes_remaining(request.user),
            "has_two_factor": bool(devices),
            "session_verified": request.user.is_verified(),  # type: ignore[attr-defined]  # added by django-otp
        },
    )


@login_required
@sudo_required
def enroll(request: AuthenticatedRequest) -> HttpResponse:
    if staff_enrollment.email_check_needed(request):
        return redirect("accounts:enroll-email")
    form = EnrollForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = two_factor.totp_enrollment_confirm(user=request.user, code=form.cleaned_data["code"])
        except two_factor.CodeRefused as refusal:
            form.add_error("code", str(refusal))
        else:
            django_otp.login(request, device)
            messages.success(request, _("Two-factor authentication is on."))
            return render(request, "accounts/backup_codes.html", {"codes": codes, "first_time": True})
    enrollment = two_factor.totp_enrollment_begin(user=request.user)
    return render(request, "accounts/enroll.html", {"form": form, "enrollment": enrollment})


@login_required
@sudo_required
def enroll_email(request: AuthenticatedRequest) -> HttpResponse:
    """Before a staff account's first authenticator: prove access to its verified mailbox (staff_enrollment)."""
    if not staff_enrollment.email_check_needed(request):
        return redirect("accounts:enroll")
    sending = request.POST.get("action") == "send"
    form = EmailCodeForm(None if sending else request.POST or None)
    error = ""
    if request.method == "POST" and (sending or form.is_valid()):
        try:
            if sending:
                address = staff_enrollment.enrollment_code_send(request=request)
                masked = staff_enrollment.masked_address(address)
                messages.info(request, _("We sent a code to %(address)s.") % {"address": masked})
                return redirect("accounts:enroll-email")
            staff_enrollment.enrollment_code_verify(request=request, code=form.cleaned_data["code"])
            return redirect("accounts:enroll")
        except (two_factor.CodeRefused, staff_enrollment.NoVerifiedEmail) as refusal:
            error = str(refusal)
    verified = staff_enrollment.verified_address_or_none(request.user)
    return render(
        request,
        "accounts/enroll_email.html",
        {"form": form, "error": error, "address": staff_enrollment.masked_address(verified) if verified else None},
        status=400 if error or form.errors else 200,
    )


@require_POST
@login_required
@sudo_required
def backup_codes_regenerate(request: AuthenticatedRequest) -> HttpResponse:
    if not has_two_factor(request.user):
        messages.error(request, _("Turn on two-factor authentication first."))
        return redirect("accounts:security")
    codes = two_factor.backup_codes_regenerate(user=request.user)
    return render(request, "accounts/backup_codes.html", {"codes": codes, "first_time": False})


@require_POST
@login_required
@sudo_required
def device_remove(request: AuthenticatedRequest) -> HttpResponse:
    try:
        removed = two_factor.device_remove(user=request.user, persistent_id=request.POST.get("device", ""))
    except two_factor.DeviceRemovalRefused as refusal:
        messages.error(request, str(refusal))
    else:
        if removed:
            messages.success(request, _("The device was removed."))
        else:
            messages.error(request, _("That device was not found."))
    return redirect("accounts:security")


@login_required
def confirm(request: AuthenticatedRequest) -> HttpResponse:
    """Re-check the user's identity (sudo mode); a code also verifies the session for 2FA."""
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"), "")
    code_required = has_two_factor(request.user)
    form = ConfirmIdentityForm(request.POST or None, code_required=code_required)
    if request.method == "POST" and form.is_valid() and _confirm_identity(request, form, code_required=code_required):
        sudo_mark_fresh(request)
        if next_url and resume.pending_post_waiting(request, next_url):
            return redirect("accounts:resume")
        return redirect(next_url or "accounts:security")
    return render(
        request,
        "accounts/confirm.html",
        {"form": form, "code_required": code_required, "next": next_url},
    )


@login_required
def resume_post(request: AuthenticatedRequest) -> HttpResponse:
    """After the re-check: what the interrupted form will do, and a Continue button that sends it again.

    Offered once (coinsite.lib.resume); nothing runs until the person presses Continue.
    """
    pending = resume.pending_post_take(request)
    if pending is None:
        messages.info(request, _("Nothing is waiting to be continued. Start again from the page you were on."))
        return redirect("accounts:security")
    return render(request, "accounts/resume.html", {"pending": pending})


@login_required
def profile(request: AuthenticatedRequest) -> HttpResponse:
    """Name, country, currency, language and time zone. A country change needs the sudo re-check and waits
    (coinsite.accounts.country)."""
    user = request.user
    pending = country.country_change_pending(user)
    form = ProfileForm(
        request.POST or None,
        initial={
            "display_name": user.display_name,
            "country": _country_shown(request, pending),
            "preferred_currency": user.preferred_currency,
            "language": language_or_default(user.language or translation.get_language()),
            "time_zone": user.time_zone,
        },
    )
    if request.method == "GET":
        return _profile_page(request, form, pending)
    if not form.is_valid():
        return _profile_page(request, form, pending, status=400)
    wanted = form.cleaned_data["country"]
    if _starts_a_country_change(user, pending, wanted) and not sudo_is_fresh(request):
        form.add_error("country", _("Changing your country needs you to confirm it's you first."))
        return _profile_page(request, form, pending, status=403, confirm_country=wanted)
    services.profile_update(
        user=user,
        display_name=form.cleaned_data["display_name"],
        preferred_currency=form.cleaned_data["preferred_currency"],
        language=form.cleaned_data["language"] or None,
        time_zone=form.cleaned_data["time_zone"] or None,
    )
    change = country.country_change_request(user=user, country=wanted, request_address=_client_address(request))
    # Said in the language just chosen, and in the zone just chosen (the next page uses both).
    with translation.override(language_or_default(user.language)), timezone.override(time_zone(user.time_zone)):
        messages.success(request, _profile_saved_message(user, pending, change))
    return redirect("accounts:profile")


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The footer's language chooser: Django's `set_language` (the language cookie, then back to `next`),
    with `next` through the site's one same-site check; a signed-in person's choice is also saved."""
    language = request.POST.get(i18n.LANGUAGE_QUERY_PARAMETER, "")
    submitted = request.POST.copy()
    submitted["next"] = safe_next(request, submitted.get("next"), reverse("home"))
    request.POST = submitted  # type: ignore[assignment]  # Django's view reads `next` from here
    response = i18n.set_language(request)
    if isinstance(request.user, User) and language in dict(settings.LANGUAGES):
        services.profile_language_set(user=request.user, language=language)
    return response


def _country_shown(request: AuthenticatedRequest, pending: CountryChange | None) -> str:
    """The country the form offers: ?country= (back from the re-check), else the pending or current one."""
    asked = request.GET.get("country", "")
    if asked in dict(countries):
        return asked
    return pending.to_country if pending else request.user.country


def _starts_a_country_change(user: User, pending: CountryChange | None, wanted: str) -> bool:
    # Withdrawing a pending change (choosing the current country again) needs no re-check.
    return wanted != user.country and (pending is None or wanted != pending.to_country)


def _profile_page(
    request: AuthenticatedRequest,
    form: ProfileForm,
    pending: CountryChange | None,
    *,
    status: int = 200,
    confirm_country: str = "",
) -> HttpResponse:
    confirm_url = ""
    if confirm_country:
        back = f"{reverse('accounts:profile')}?{urlencode({'country': confirm_country})}"
        confirm_url = f"{reverse('accounts:confirm')}?{urlencode({'next': back})}"
        # The whole profile form is offered again after the re-check (coinsite.lib.resume).
        resume.pending_post_keep(request, action=_("Save your profile with the new country"), next_url=back)
    context = {"form": form, "pending_change": pending, "confirm_url": confirm_url}
    return render(request, "accounts/profile.html", context, status=status)


def _profile_saved_message(user: User, pending: CountryChange | None, change: CountryChange | None) -> str:
    if change is not None and change != pending:
        return _(
            "Your profile was saved. Your country changes to %(country)s on %(date)s, or sooner if our team "
            "approves it; until then prices and payment rules stay those of %(current)s."
        ) % {
            "country": change.get_to_country_display(),
            "date": format_date_local(change.effective_at),
            "current": user.get_country_display(),
        }
    if change is None and pending is not None:
        return _("Your profile was saved, and your country change was withdrawn.")
    return _("Your profile was saved.")


def _client_address(request: HttpRequest) -> str | None:
    address = request.META.get("REMOTE_ADDR", "")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return address


def _confirm_identity(request: AuthenticatedRequest, form: ConfirmIdentityForm, *, code_required: bool) -> bool:
    code = form.cleaned_data["code"]
    password = form.cleaned_data["password"]
    if code_required or code:
        try:
            device = two_factor.code_verify(user=request.user, code=code)
        except two_factor.CodeRefused as refusal:
            form.add_error("code", str(refusal))
            return False
        django_otp.login(request, device)
        return True
    try:
        sudo.password_recheck(user=request.user, password=password)
    except sudo.RecheckRefused as refusal:
        form.add_error("password", str(refusal))
        return False
    return True
