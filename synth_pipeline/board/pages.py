"""The release board's HTML: one self-contained page per view (inline CSS, no scripts, no external resources), so
it works inside Airflow's nav iframe and behind any proxy. Every value is escaped; links stay under the board's
mount path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote

from synth_pipeline.board.data import PendingApproval, ReleaseRow, Removal
from synth_pipeline.privacy.ledger import DatasetBudget

PAGES = (("releases", "Releases"), ("budgets", "Budgets"), ("pending", "Pending approvals"),
         ("expired", "Expired and removed"))
# A dataset's charges are listed open up to this many; longer lists start folded (still in the page).
OPEN_CHARGES = 100

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f7f8fa}
header{display:flex;flex-wrap:wrap;gap:1.2em;align-items:center;padding:.7em 1.2em;background:#1d2430;color:#fff}
header a{color:#cfe1ff;text-decoration:none;margin-right:1em}header a[aria-current]{color:#fff;font-weight:600;
border-bottom:2px solid #fff}header .who{margin-left:auto;color:#b8c2d1}main{padding:1em 1.2em}
table{border-collapse:collapse;background:#fff;margin:.4em 0 1.2em;width:100%}
th,td{border:1px solid #dde2ea;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#eef1f6}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.t{white-space:nowrap}.ok{color:#17663a;font-weight:600}
.bad{color:#a61b1b;font-weight:600}.warn{color:#8a5a00;font-weight:600}.muted{color:#5f6b7a}
.badge{background:#dbe8ff;border-radius:.6em;padding:0 .5em;font-size:.85em}
section.card{background:#fff;border:1px solid #dde2ea;padding:.8em 1em;margin:0 0 1em}
pre{white-space:pre-wrap;background:#f2f4f8;padding:.6em;margin:.4em 0}textarea{width:100%;min-height:3em}
button{padding:.3em 1em;margin-right:.6em}.notice{background:#fff4d6;border:1px solid #e8c56a;padding:.6em 1em}
"""


@dataclass(frozen=True)
class PageContext:
    base: str  # the board's mount path, e.g. "/release-board"
    user: str  # the Airflow user's name, shown in the header
    user_id: str  # the Airflow user id stewards are listed by
    csrf: str | None  # the form token for cookie-authenticated browsers (None: no forms)
    now: datetime


def _e(value: object) -> str:
    return "—" if value is None or value == "" else escape(str(value))


def _num(value: object, spec: str = "g") -> str:
    return "—" if not isinstance(value, (int, float)) else escape(format(value, spec))


def _when(value: str | datetime | None) -> str:
    if not value:
        return "—"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return escape(str(value))
    return escape(moment.strftime("%Y-%m-%d %H:%M") + ("Z" if moment.utcoffset() is not None else ""))


def _page(ctx: PageContext, current: str | None, title: str, body: str) -> str:
    nav = "".join(f'<a href="{ctx.base}/{slug}"{" aria-current=page" if slug == current else ""}>{label}</a>'
                  for slug, label in PAGES)
    twin = f' · <a href="{ctx.base}/api/{current}">JSON</a>' if current else ""
    who = f'<span class="who">Signed in as {_e(ctx.user)}{twin}</span>' if ctx.user else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>{escape(title)} · Release board</title>'
            f'<style>{_CSS}</style></head><body><header><strong>Release board</strong><nav>{nav}</nav>'
            f'{who}</header><main><h1>{escape(title)}</h1>{body}</main></body></html>')


def _table(head: Sequence[str], rows: Iterable[str]) -> str:
    return ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


_STATUS = {"verified": "ok", "expired": "warn", "tampered": "bad", "unreadable": "bad"}


def releases_page(ctx: PageContext, rows: Sequence[ReleaseRow]) -> str:
    if not rows:
        return _page(ctx, "releases", "Releases", '<p class="muted">Nothing is published yet.</p>')
    broken = sum(row.status in ("tampered", "unreadable") for row in rows)
    lines = []
    for row in rows:
        card = (f'<a href="{ctx.base}/releases/{quote(row.release)}/{quote(row.version)}/card">data card</a>'
                if row.card_available else '<span class="muted">withheld</span>')
        latest = ' <span class="badge">latest</span>' if row.is_latest else ""
        status = f'<span class="{_STATUS.get(row.status, "bad")}">{escape(row.status)}</span>'
        if row.problem and row.status != "verified":
            status += f'<br><span class="muted">{escape(row.problem)}</span>'
        lines.append(
            f"<tr><td>{_e(row.release)}</td><td class=t>{_e(row.version)}{latest}</td>"
            f"<td class=n>{_num(row.rows, ',')}</td><td class=n>{_num(row.epsilon)}</td>"
            f"<td class=n>{_num(row.delta, '.3g')}</td><td>{_e(row.generator)}</td><td>{_e(row.approved_by)}</td>"
            f"<td class=t>{_when(row.created_at)}</td><td class=t>{_when(row.expires_at)}</td>"
            f"<td>{_e(row.purpose)}</td><td>{status}</td><td>{card}</td></tr>")
    summary = (f'<p>{len(rows)} version(s) of {len({r.release for r in rows})} release(s). Checksums are verified '
               f'against each manifest; a data card is served only for a verified, unexpired version.'
               + (f' <span class="bad">{broken} version(s) failed verification.</span>' if broken else "") + "</p>")
    head = ("Release", "Version", "Rows", "ε", "δ", "Generator", "Approved by", "Created", "Expires", "Purpose",
            "Verification", "Data card")
    return _page(ctx, "releases", "Releases", summary + _table(head, lines))


def _charges(budget: DatasetBudget) -> str:
    lines = [f"<tr><td class=n>{entry.id}</td><td>{escape(entry.status)}</td><td class=n>{_num(entry.epsilon)}</td>"
             f"<td class=n>{_num(entry.delta, '.3g')}</td><td>{_e(entry.release)}</td><td>{_e(entry.run_id)}</td>"
             f"<td class=n>{entry.attempt}</td><td>{_e(entry.mechanism)}</td><td class=t>{_when(entry.created_at)}</td>"
             f"<td class=t>{_when(entry.updated_at)}</td></tr>" for entry in reversed(budget.entries)]
    head = ("#", "Status", "ε", "δ", "Release", "Run", "Attempt", "Mechanism", "Charged", "Updated")
    opened = " open" if len(lines) <= OPEN_CHARGES else ""
    return (f"<details{opened}><summary>{len(lines)} charge(s), newest first</summary>"
            f"{_table(head, lines)}</details>" if lines else '<p class="muted">No charges yet.</p>')


def _remaining(value: float | None, lifetime: float | None) -> float | None:
    # 3e-5 - 2e-5 - 1e-5 is -1.7e-21 in binary floats: within the ledger's own relative slack, that is nothing left.
    if value is None or lifetime is None:
        return value
    return 0.0 if abs(value) <= lifetime * 1e-12 else value


def budgets_page(ctx: PageContext, budgets: Sequence[DatasetBudget]) -> str:
    if not budgets:
        return _page(ctx, "budgets", "Budgets", '<p class="muted">The ledger config lists no dataset.</p>')
    parts = ['<p>Lifetime privacy budgets from the ledger config; charges compose by basic composition '
             '(epsilons add, deltas add). Released reservations cost nothing.</p>']
    for budget in budgets:
        figures = [(name, getattr(budget, f"lifetime_{name}"), getattr(budget, f"spent_{name}"),
                    getattr(budget, f"reserved_{name}"),
                    _remaining(getattr(budget, f"remaining_{name}"), getattr(budget, f"lifetime_{name}")))
                   for name in ("epsilon", "delta")]
        rows = [f"<tr><th>{'ε' if name == 'epsilon' else 'δ'}</th>" + "".join(
            f"<td class=n>{_num(value, '.6g')}</td>" for value in values) + "</tr>"
            for name, *values in figures]
        unconfigured = ('' if budget.lifetime_epsilon is not None else
                        ' <span class="warn">(no lifetime configured: it can be shown, not charged)</span>')
        parts.append(f'<section class="card"><h2>{_e(budget.dataset)}{unconfigured}</h2>'
                     + _table(("", "Lifetime", "Spent", "Reserved", "Remaining"), rows)
                     + _charges(budget) + "</section>")
    return _page(ctx, "budgets", "Budgets", "".join(parts))


def _pending_item(ctx: PageContext, item: PendingApproval) -> str:
    run = f"{ctx.base}/pending/{quote(item.dag_id, safe='')}/{quote(item.run_id, safe='')}"
    steward = ctx.user_id in item.stewards
    stewards = ", ".join(item.stewards) or "none (the release spec names no steward)"
    facts = (f'<p><b>Release</b> {_e(item.dag_id)} · <b>run</b> {_e(item.run_id)} · <b>waiting since</b> '
             f'{_when(item.created_at)} · <b>triggered by</b> {_e(item.triggered_by)} · <b>stewards</b> '
             f'{_e(stewards)}</p>')
    if not steward:
        action = '<p class="muted">The internal report and the decision are for the release\'s stewards only.</p>'
    else:
        report = (f'<p><a href="{run}/report">Internal report</a> (steward only: it holds figures of the private '
                  'data)</p>' if item.report_available else '<p class="warn">No internal report in the run folder.</p>')
        own = item.triggered_by is not None and item.triggered_by in (ctx.user, ctx.user_id)
        four_eyes = ('<p class="notice">You triggered this run: the four-eyes rule lets you reject it, not approve '
                     'it.</p>' if own else "")
        token = f'<input type="hidden" name="csrf" value="{escape(ctx.csrf)}">' if ctx.csrf else ""
        action = (f'{report}{four_eyes}<form method="post" action="{run}/decision">{token}'
                  '<label>Comment (required to reject)<textarea name="comment"></textarea></label><p>'
                  '<button name="decision" value="approve">Approve</button>'
                  '<button name="decision" value="reject">Reject</button></p></form>')
    return (f'<section class="card"><h2>{_e(item.subject)}</h2>{facts}<pre>{escape(item.body)}</pre>'
            f'{action}</section>')


def pending_page(ctx: PageContext, items: Sequence[PendingApproval]) -> str:
    if not items:
        return _page(ctx, "pending", "Pending approvals", '<p class="muted">No release run is waiting for a '
                                                           'decision.</p>')
    intro = ("<p>Runs whose <code>approve</code> task waits for a steward. The summary is the approval request "
             "(DP and spec figures only). A decision goes through Airflow's human-in-the-loop API as you.</p>")
    return _page(ctx, "pending", "Pending approvals", intro + "".join(_pending_item(ctx, i) for i in items))


def expired_page(ctx: PageContext, removed: Sequence[Removal], awaiting: Sequence[ReleaseRow]) -> str:
    parts = ["<p>Retention (the <code>synthetic_release_retention</code> DAG) deletes versions past their expiry "
             "and records each removal at the publish location.</p><h2>Past expiry, not yet removed</h2>"]
    if awaiting:
        parts.append(_table(("Release", "Version", "Expired", "Purpose"), (
            f"<tr><td>{_e(r.release)}</td><td>{_e(r.version)}</td><td>{_when(r.expires_at)}</td>"
            f"<td>{_e(r.purpose)}</td></tr>" for r in awaiting)))
    else:
        parts.append('<p class="muted">None.</p>')
    parts.append("<h2>Removed by retention</h2>")
    if removed:
        parts.append(_table(("Release", "Version", "Expired", "Removed", "Purpose"), (
            f"<tr><td>{_e(r.release)}</td><td>{_e(r.version)}</td><td>{_when(r.expired_at)}</td>"
            f"<td>{_when(r.removed_at)}</td><td>{_e(r.purpose)}</td></tr>" for r in removed)))
    else:
        parts.append('<p class="muted">Nothing has been removed.</p>')
    return _page(ctx, "expired", "Expired and removed", "".join(parts))


def decision_page(ctx: PageContext, *, dag_id: str, run_id: str, decision: str, refused: str | None) -> str:
    if refused:
        body = (f'<p class="bad">Airflow did not record your decision ({escape(decision)}) on {_e(dag_id)} run '
                f'{_e(run_id)}:</p><pre>{escape(refused)}</pre>')
    else:
        body = (f'<p class="ok">Recorded: {escape(decision)} on {_e(dag_id)} run {_e(run_id)}, by {_e(ctx.user)}.'
                '</p>')
    return _page(ctx, None, "Decision", body + f'<p><a href="{ctx.base}/pending">Back to pending approvals</a></p>')


def error_page(ctx: PageContext, *, status: int, message: str, login_url: str | None = None) -> str:
    titles = {401: "Sign in required", 403: "Not allowed", 404: "Not found"}
    # target=_top: inside Airflow's nav iframe, the sign-in page must replace the whole UI, not the frame.
    hint = (f'<p><a href="{escape(login_url)}" target="_top">Sign in to Airflow</a>, then come back to this page.'
            '</p>' if login_url else "")
    return _page(ctx, None, titles.get(status, f"Error {status}"), f"<p>{escape(message)}</p>{hint}")
