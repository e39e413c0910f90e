import datetime
from typing import Any, Never

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_countries.fields import CountryField

from coinsite.lib.currencies import DEFAULT_CURRENCY, currency_choices
from coinsite.lib.l10n import DEFAULT_TIME_ZONE, time_zone_choices
from coinsite.lib.prepared import prepared_cursor

ADULT_AGE = 18


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get(self, *args: Any, **kwargs: Any) -> "User":
        """`get(pk=<int>)` through a prepared statement; any other lookup as Django's.

        Django's auth backends read the signed-in user with `_default_manager.get(pk=...)` on every
        request; building that query with the ORM cost about 0.45 ms of Python per request here
        (docs/scaling.md). Same answer, same errors, same database (the router's read alias).
        """
        pk = kwargs.get("pk")
        if args or len(kwargs) != 1 or type(pk) is not int or not -(2**63) <= pk < 2**63:
            return super().get(*args, **kwargs)
        using = self.db
        with prepared_cursor(using) as cursor:
            cursor.execute(_USER_BY_PK_SQL, [pk])
            row = cursor.fetchone()
        if row is None:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} matching query does not exist.")
        return self.model.from_db(using, _USER_FIELDS, row)

    def _create_user(self, email: str, password: str | None, **extra_fields: Any) -> "User":
        if not email:
            raise ValueError("Users must have an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields: Any) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields: Any) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person on Coinsite: viewer, creator (is_creator) or staff (is_staff); email is the login."""

    email = models.EmailField(gettext_lazy("email address"), unique=True)
    display_name = models.CharField(max_length=60, verbose_name=gettext_lazy("display name"))
    # Any country (names and codes from django-countries); what Coinsite offers there is wallet.Country's business.
    country = CountryField(default="US", verbose_name=gettext_lazy("country"))
    birth_date = models.DateField(null=True, blank=True, verbose_name=gettext_lazy("birth date"))
    preferred_currency = models.CharField(
        max_length=3,
        choices=currency_choices,
        default=DEFAULT_CURRENCY,
        verbose_name=gettext_lazy("preferred currency"),
    )
    # A creator's payouts' currency (their newest payout method's, set by payouts.services): the currency
    # every amount on their creator pages is shown in. Empty until they add a method.
    payout_currency = models.CharField(
        max_length=3, choices=currency_choices, blank=True, default="", verbose_name=gettext_lazy("payout currency")
    )
    # The language pages and emails use; "" until chosen (pages then follow the browser, emails are in English).
    language = models.CharField(
        max_length=10, choices=settings.LANGUAGES, blank=True, default="", verbose_name=gettext_lazy("language")
    )
    time_zone = models.CharField(
        max_length=64, choices=time_zone_choices, default=DEFAULT_TIME_ZONE, verbose_name=gettext_lazy("time zone")
    )
    is_creator = models.BooleanField(default=False, verbose_name=gettext_lazy("is creator"))
    is_staff = models.BooleanField(default=False, verbose_name=gettext_lazy("is staff"))
    is_active = models.BooleanField(default=True, verbose_name=gettext_lazy("is active"))
    date_joined = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("date joined"))

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        verbose_name = gettext_lazy("user")
        verbose_name_plural = gettext_lazy("users")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.display_name or self.email

    @property
    def country_code(self) -> str:
        """The two-letter country code as stored. Reading `country` builds a django-countries `Country` (its
        name and flag) every time: about 11 µs, which the one-tap gift paid on every tap for the code alone."""
        if "country" not in self.__dict__:  # deferred: the field's descriptor loads it
            return str(self.country)
        return self.__dict__["country"] or ""

    def get_short_name(self) -> str:
        return self.display_name or self.email

    def get_full_name(self) -> str:
        return self.display_name or self.email

    def age_on(self, day: datetime.date) -> int | None:
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday

    def is_at_least(self, age: int) -> bool:
        """Whether the person is `age` or older today (False without a birth date)."""
        years = self.age_on(timezone.localdate())
        return years is not None and years >= age

    @property
    def is_adult(self) -> bool:
        return self.is_at_least(ADULT_AGE)


class StaffAction(models.Model):
    """One thing a staff member did: who, what, when, to which object, the state before and after.

    Append-only: written by `coinsite.accounts.staff_audit.staff_action_record` only (admin saves and
    deletes, admin actions, money operations), never edited or deleted, shown read-only in admin.
    """

    actor = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="staff_actions", verbose_name=gettext_lazy("actor")
    )
    action = models.CharField(
        max_length=64,
        help_text=gettext_lazy("e.g. change, delete, payout.approve, topup.refund"),
        verbose_name=gettext_lazy("action"),
    )
    target_type = models.CharField(
        max_length=100,
        help_text=gettext_lazy("app_label.model of the object acted on"),
        verbose_name=gettext_lazy("target type"),
    )
    target_id = models.CharField(max_length=64, blank=True, default="", verbose_name=gettext_lazy("target id"))
    target_repr = models.CharField(max_length=200, blank=True, default="", verbose_name=gettext_lazy("target repr"))
    before = models.JSONField(null=True, blank=True, verbose_name=gettext_lazy("before"))
    after = models.JSONField(null=True, blank=True, verbose_name=gettext_lazy("after"))
    reason = models.TextField(blank=True, default="", verbose_name=gettext_lazy("reason"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=gettext_lazy("created at"))

    class Meta:
        verbose_name = gettext_lazy("staff action")
        verbose_name_plural = gettext_lazy("staff actions")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="accounts_staffaction_target")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target_type} {self.target_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Staff actions are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Never:
        raise ValueError("Staff actions are append-only.")


class SudoThrottle(models.Model):
    """Wrong passwords at the sudo re-check, per user; see `coinsite.accounts.sudo.password_recheck`.

    Like django-otp's throttle on codes: past a few failures each one doubles the wait, counted
    from the last password actually checked. Attempts made while waiting are refused unchecked
    and count too, so a burst of guesses lengthens the wait instead of slipping through it.
    """

    user = models.OneToOneField(
        User,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="sudo_throttle",
        verbose_name=gettext_lazy("user"),
    )
    failure_count = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("failure count"))
    last_failure_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("last failure at"))

    class Meta:
        verbose_name = gettext_lazy("sudo throttle")
        verbose_name_plural = gettext_lazy("sudo throttles")

    def __str__(self) -> str:
        return f"Sudo re-check failures of user {self.user_id}: {self.failure_count}"


class CountryChangeStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Cooling off")
    APPLIED = "applied", gettext_lazy("Applied after the cooling-off")
    APPROVED = "approved", gettext_lazy("Approved by staff")
    REJECTED = "rejected", gettext_lazy("Rejected by staff")
    CANCELLED = "cancelled", gettext_lazy("Withdrawn")


class CountryChange(models.Model):
    """A change of a user's profile country, and the audit trail of every such change.

    Regional rules (prices, payment methods, what may be bought or gifted) follow `User.country`,
    the effective country. A change the user asks for waits here, pending, and takes effect only
    after the cooling-off (`effective_at`) or a staff approval; see `coinsite.accounts.country`.
    """

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="country_changes", verbose_name=gettext_lazy("user")
    )
    from_country = CountryField(verbose_name=gettext_lazy("from country"))
    to_country = CountryField(verbose_name=gettext_lazy("to country"))
    status = models.CharField(
        max_length=10,
        choices=CountryChangeStatus.choices,
        default=CountryChangeStatus.PENDING,
        verbose_name=gettext_lazy("status"),
    )
    requested_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("requested at"))
    effective_at = models.DateTimeField(
        help_text=gettext_lazy("When the cooling-off ends and the change applies by itself."),
        verbose_name=gettext_lazy("effective at"),
    )
    request_address = models.GenericIPAddressField(null=True, blank=True, verbose_name=gettext_lazy("request address"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("decided at"))
    decided_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=gettext_lazy("The staff member, if any."),
        verbose_name=gettext_lazy("decided by"),
    )

    class Meta:
        verbose_name = gettext_lazy("country change")
        verbose_name_plural = gettext_lazy("country changes")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(status=CountryChangeStatus.PENDING), name="accounts_one_pending_country"
            ),
            models.CheckConstraint(condition=~Q(from_country=F("to_country")), name="accounts_country_change_changes"),
            models.CheckConstraint(
                condition=Q(status__in=CountryChangeStatus.values), name="accounts_country_change_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=CountryChangeStatus.PENDING, decided_at__isnull=True)
                | (~Q(status=CountryChangeStatus.PENDING) & Q(decided_at__isnull=False)),
                name="accounts_country_change_decided_iff_done",
            ),
        ]
        indexes = [
            models.Index(
                fields=["effective_at"],
                condition=Q(status=CountryChangeStatus.PENDING),
                name="accounts_country_change_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.from_country} → {self.to_country} ({self.get_status_display()})"


class CreatorApplicationStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Waiting for review")
    APPROVED = "approved", gettext_lazy("Approved")
    REJECTED = "rejected", gettext_lazy("Not approved")


class CreatorCategory(models.TextChoices):
    GAMING = "gaming", gettext_lazy("Gaming")
    MUSIC = "music", gettext_lazy("Music")
    ART = "art", gettext_lazy("Art and design")
    TALK = "talk", gettext_lazy("Talk and chatting")
    EDUCATION = "education", gettext_lazy("Education and science")
    FITNESS = "fitness", gettext_lazy("Sport and fitness")
    FOOD = "food", gettext_lazy("Food and cooking")
    OTHER = "other", gettext_lazy("Something else")


class CreatorApplication(models.Model):
    """A viewer asking to become a creator; staff approve (the user becomes a creator) or reject it with a
    reason, and the applicant is emailed either way. See `coinsite.accounts.creator_applications`."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="creator_applications", verbose_name=gettext_lazy("user")
    )
    display_name = models.CharField(
        max_length=60,
        help_text=gettext_lazy("The name viewers will see on streams."),
        verbose_name=gettext_lazy("display name"),
    )
    category = models.CharField(max_length=12, choices=CreatorCategory.choices, verbose_name=gettext_lazy("category"))
    description = models.TextField(
        max_length=1000,
        help_text=gettext_lazy("What they stream, in their own words."),
        verbose_name=gettext_lazy("description"),
    )
    link = models.URLField(
        blank=True,
        default="",
        help_text=gettext_lazy("Where they stream or post today, if anywhere."),
        verbose_name=gettext_lazy("link"),
    )
    status = models.CharField(
        max_length=10,
        choices=CreatorApplicationStatus.choices,
        default=CreatorApplicationStatus.PENDING,
        verbose_name=gettext_lazy("status"),
    )
    submitted_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("submitted at"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("decided at"))
    decided_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=gettext_lazy("decided by")
    )
    decision_reason = models.TextField(
        blank=True,
        default="",
        help_text=gettext_lazy("Told to the applicant."),
        verbose_name=gettext_lazy("decision reason"),
    )
    emailed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=gettext_lazy("When the applicant was told the decision."),
        verbose_name=gettext_lazy("emailed at"),
    )

    class Meta:
        verbose_name = gettext_lazy("creator application")
        verbose_name_plural = gettext_lazy("creator applications")
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status=CreatorApplicationStatus.PENDING),
                name="accounts_one_open_creator_application",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CreatorApplicationStatus.values), name="accounts_creator_application_status"
            ),
            models.CheckConstraint(
                condition=Q(status=CreatorApplicationStatus.PENDING, decided_at__isnull=True)
                | (~Q(status=CreatorApplicationStatus.PENDING) & Q(decided_at__isnull=False)),
                name="accounts_creator_application_decided_iff_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.user.email}): {self.get_status_display()}"


_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
_USER_BY_PK_SQL = (
    f"SELECT {', '.join(_USER_FIELDS)} FROM {User._meta.db_table} WHERE {User._meta.pk.column} = %s::bigint"  # noqa: S608 (the model's names)
)


class EmailInFlight(models.Model):
    """An email a task has claimed and not yet sent or given back (`coinsite.accounts.email_claims`).

    The row lives for the length of one send. One left behind means the task died mid-send (a killed worker,
    a lost machine): its claim says "sent" to every later delivery, so the sweep queues `task` with `args`
    again once the row is older than any task may run, and that task takes the claim over and sends.
    """

    key = models.CharField(
        max_length=100,
        unique=True,
        help_text=gettext_lazy("which email, e.g. topup.receipt:42"),
        verbose_name=gettext_lazy("key"),
    )
    task = models.CharField(
        max_length=200, help_text=gettext_lazy("the Celery task that sends it"), verbose_name=gettext_lazy("task")
    )
    args = models.JSONField(default=list, blank=True, verbose_name=gettext_lazy("args"))
    claimed_at = models.DateTimeField(verbose_name=gettext_lazy("claimed at"))

    class Meta:
        verbose_name = gettext_lazy("email in flight")
        verbose_name_plural = gettext_lazy("emails in flight")

    def __str__(self) -> str:
        return self.key
