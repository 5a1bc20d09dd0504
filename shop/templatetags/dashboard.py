"""{% staff_dashboard %} on the admin's index page (templates/admin/index.html)."""

from django import template

from shop.dashboard import render_dashboard

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_dashboard(context) -> str:
    return render_dashboard(context["request"].user)
