"""Sudo mode: sensitive pages need a password or code re-check from the last few minutes."""

import time
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

SESSION_KEY = "coinsite_sudo_until"


def mark_fresh(request) -> None:
    request.session[SESSION_KEY] = int(time.time()) + settings.SUDO_MODE_SECONDS


def is_fresh(request) -> bool:
    return request.session.get(SESSION_KEY, 0) > time.time()


def sudo_required(view):
    """Send the user to the re-check page unless they confirmed it was them very recently."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?{urlencode({'next': request.get_full_path()})}")
        if not is_fresh(request):
            return redirect(f"{reverse('accounts:confirm')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return wrapper
