"""The trainer's workshop form and the learner's join form."""

from __future__ import annotations

from typing import Any

from django import forms

from sessions import lifecycle, parsing
from sessions.models import Playground
from workshops.models import Workshop


class WorkshopForm(forms.ModelForm):
    class Meta:
        model = Workshop
        fields = [
            "title",
            "seats",
            "starts_at",
            "ends_at",
            "image",
            "instances",
            "session_length",
            "template",
            "warm_pool",
            "lesson",
        ]
        widgets = {
            "template": forms.Textarea(attrs={"rows": 6, "placeholder": '{"instances": [...]}'}),
            "lesson": forms.Textarea(
                attrs={"rows": 12, "placeholder": "## Step one\n\n```run\ndocker run hello-world\n```"}
            ),
        }

    def __init__(self, *args: Any, playground: Playground, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.playground = playground

    def clean_seats(self) -> int:
        seats = int(self.cleaned_data["seats"])
        if seats < 1:
            raise forms.ValidationError("a workshop needs at least one seat")
        return seats

    def clean_image(self) -> str:
        image = str(self.cleaned_data["image"]).strip()
        if image and image not in self.instance.playground.images:
            raise forms.ValidationError(f"not offered here; choose one of {', '.join(self.instance.playground.images)}")
        return image

    def clean_template(self) -> str:
        template = str(self.cleaned_data["template"]).strip()
        if template:
            try:
                nodes = parsing.setup_request(template.encode())
            except lifecycle.SandboxError as e:
                raise forms.ValidationError(str(e)) from e
            if len(nodes) > self.instance.playground.max_instances:
                raise forms.ValidationError(f"a session holds at most {self.instance.playground.max_instances} nodes")
        return template

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "the workshop must end after it starts")
        if data.get("warm_pool") and data.get("seats") and data["warm_pool"] > data["seats"]:
            self.add_error("warm_pool", "a warm pool larger than the seats is never used")
        if not data.get("template") and (data.get("instances") or 0) > self.instance.playground.max_instances:
            self.add_error("instances", f"a session holds at most {self.instance.playground.max_instances} nodes")
        return data


class JoinForm(forms.Form):
    name = forms.CharField(max_length=60, label="Your name", strip=True)
