import datetime

from allauth.account.models import EmailAddress

from coinsite.accounts.models import User

PASSWORD = "correct-horse-battery"


def make_user(*, email: str, password: str = PASSWORD, verified: bool = True,
              birth_date: datetime.date = datetime.date(1990, 5, 17), **fields) -> User:
    """A user with a (by default verified) primary email, as allauth would have made."""
    fields.setdefault("display_name", email.split("@")[0].title())
    user = User.objects.create_user(email=email, password=password, birth_date=birth_date, **fields)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=verified)
    return user
