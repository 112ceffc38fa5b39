"""The one console command, ``ipfund``: each area adds its own sub-command group."""

from __future__ import annotations

import typer

from fund.cli import (
    audit,
    bench,
    claims,
    core,
    fees,
    keys,
    ledger,
    lpr,
    payments,
    policies,
    pool,
    proposals,
    registry,
    reversals,
    statements,
    stress,
    subsidies,
    users,
    value,
)

app = typer.Typer(
    name="ipfund",
    help="IP pledge-financing risk compensation fund: registry, claims, subsidies, ledger, stress tests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

core.register(app)
app.add_typer(policies.app, name="policies")
app.add_typer(lpr.app, name="lpr")
app.add_typer(registry.report_app, name="report")
app.add_typer(registry.loans_app, name="loans")
app.add_typer(claims.app, name="claims")
app.add_typer(claims.fund_app, name="fund")
app.add_typer(ledger.app, name="ledger")
app.add_typer(subsidies.app, name="subsidies")
app.add_typer(value.app, name="value")
app.add_typer(stress.app, name="stress")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(proposals.app, name="proposals")
app.add_typer(audit.app, name="audit")
app.add_typer(reversals.app, name="repayments")
app.add_typer(bench.app, name="bench")
app.add_typer(statements.app, name="statements")
app.add_typer(payments.app, name="payments")
app.add_typer(pool.app, name="agreements")
app.add_typer(fees.app, name="fees")
statements.register(registry.report_app)
statements.register_bench(bench.app)


if __name__ == "__main__":  # pragma: no cover
    app()
