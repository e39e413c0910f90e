"""A form marked `fields_shared` uses its declared fields without copying them, and validates as before."""

from django import forms

from coinsite.lib.forms import fields_shared
from gifting.forms import GiftSendForm


def test_the_gift_form_shares_its_fields_and_each_form_keeps_its_own_data_and_errors():
    good = GiftSendForm({"gift": "3", "quantity": "2", "idempotency_key": "k-1", "anonymous": "on"})
    bad = GiftSendForm({"gift": "", "quantity": "0", "idempotency_key": ""})

    assert good.fields["gift"] is GiftSendForm.base_fields["gift"] is bad.fields["gift"]
    assert good.fields is not GiftSendForm.base_fields  # the dict is the form's own
    assert good.is_valid() and not bad.is_valid()
    assert good.cleaned_data == {
        "gift": 3,
        "quantity": 2,
        "anonymous": True,
        "idempotency_key": "k-1",
        "confirmed": False,
        "message": "",
    }
    assert set(bad.errors) == {"gift", "quantity", "idempotency_key"}
    assert bad.first_error() == "Pick a gift to send."


def test_a_subclass_of_a_shared_form_copies_its_fields_again():
    @fields_shared
    class Shared(forms.Form):
        name = forms.CharField()

    class Child(Shared):
        pass

    assert Shared().fields["name"] is Shared.base_fields["name"]
    assert Child().fields["name"] is not Child.base_fields["name"]
