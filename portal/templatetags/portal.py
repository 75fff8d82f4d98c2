"""Template tags of the portal: navigation, role checks, inline SVG charts, small formatting."""

from django import template
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.html import format_html

from .. import charts

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_link(context, url_name, label, prefix=None):
    """A link marked as the current page when the page's URL name starts with ``prefix``."""
    current = getattr(context["request"].resolver_match, "url_name", "") or ""
    wanted = prefix or url_name.rpartition(":")[2]
    if current.startswith(wanted):
        return format_html('<a href="{}" aria-current="page">{}</a>', reverse(url_name), label)
    return format_html('<a href="{}">{}</a>', reverse(url_name), label)


@register.filter
def has_role(membership, role):
    """``{% if membership|has_role:"admin" %}``: whether the person may do what ``role`` may."""
    return membership is not None and membership.has_role(role)


@register.filter
def compact(number):
    """``1234`` → ``1.23k``."""
    return charts.compact(number)


@register.filter
def shown(value):
    """A stored value as people read it: floats to four decimals, lists joined, ranges as low–high."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return floatformat(value, -4)
    if isinstance(value, list | tuple):
        return ", ".join(str(part) for part in value)
    if isinstance(value, dict) and "min" in value:
        return f"{value['min']}–{value['max']} (tuned)"
    return value


@register.filter
def signed_percent(ratio):
    """A relative change as a signed percentage: ``0.25`` → ``+25%``."""
    return f"{ratio:+.0%}"


@register.filter
def words(identifier):
    """``leave_last_out`` → ``leave last out``."""
    return str(identifier).replace("_", " ")


@register.filter
def percent(part, whole):
    """``used|percent:limit`` → a whole number from 0 to 100, for meters and progress bars."""
    if not whole:
        return 0
    return min(100, round(100 * (part or 0) / whole))


@register.inclusion_tag("portal/charts/bar.html")
def bar_chart(rows, x, y, title):
    """``{% bar_chart usage.days "day" "requests" "Requests per day" %}``: a bar per row."""
    return charts.bar_chart([row[x] for row in rows], [row[y] for row in rows], title=title)


@register.inclusion_tag("portal/charts/line.html")
def line_chart(rows, x, lines, title, from_zero=True):
    """``{% line_chart run.history "epoch" "loss,val_loss" "Loss" %}``: a line per named key of the rows."""
    names = lines.split(",") if isinstance(lines, str) else list(lines)
    series = {name: [row.get(name) for row in rows] for name in names}
    return charts.line_chart([row[x] for row in rows], series, title=title, from_zero=from_zero)


@register.filter
def deploy_confirmation(version, deployed):
    """The question a deploy button asks first when ``version`` scored worse than ``deployed`` (else "")."""
    from recommender.training.services.deployments import worse_than_deployed

    if not deployed:  # nothing serves yet (templates turn the missing deployment into "")
        return ""
    warning = worse_than_deployed(version, deployed)
    return f"{warning} Deploy it anyway?" if warning else ""
