"""allauth's policy here: no sign-up with a password; an OAuth login makes its account on first use."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Accounts with a password are the operator's to make (admin, createsuperuser): learners need none.
        return False

    def respond_user_inactive(self, request: HttpRequest, user: AbstractBaseUser) -> HttpResponse:
        # allauth's own page for this is not served here (only its OAuth routes are).
        message = "this account is deactivated: ask the operator"
        return render(request, "accounts/oauth_error.html", {"message": message}, status=403)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True
