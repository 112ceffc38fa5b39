"""The people-readable message of every domain error code (RULES' refusals, the services' and the
console's own). English here is the message id; the Chinese is in the catalogue. The console shows the
error's own English message in English (it names the figures) and this message in Chinese."""

from __future__ import annotations

from api.console.i18n import N_

ERROR_MESSAGES: dict[str, str] = {
    # sign-in and people
    "bad_credentials": N_("The login or the password is wrong."),
    "login_locked": N_("Too many failed sign-ins: this login is locked for a while. Try again later or ask an administrator."),
    "person_inactive": N_("This user is deactivated."),
    "unknown_person": N_("No such user."),
    "login_exists": N_("This login is taken."),
    "invalid_login": N_("A login is 3 to 64 letters, digits, dots, dashes or underscores."),
    "invalid_role": N_("That role does not exist or does not fit the institution."),
    "invalid_roles": N_("That role does not exist or does not fit the institution."),
    "weak_password": N_("The password is too short or too simple."),
    "invalid_password": N_("The password is too short or too simple."),
    "invalid_language": N_("Unknown language."),
    "same_person": N_("The person who made a proposal cannot sign it off."),
    "own_proposal": N_("The person who made a proposal cannot sign it off."),
    "not_your_proposal": N_("Only the person who made a proposal may withdraw it."),
    "proposal_not_found": N_("No such proposal."),
    "proposal_not_open": N_("This proposal has already been decided or withdrawn."),
    "unknown_proposal_kind": N_("Unknown kind of proposal."),
    "proposal_exists": N_("An open proposal for this already exists."),
    "role_required": N_("Your role does not allow this action."),
    "forbidden": N_("Your role does not allow this action."),
    "missing_reason": N_("A reason must be given."),
    "note_too_long": N_("A note or reason is at most 500 characters."),
    # console input
    "invalid_number": N_("Enter a whole number."),
    "invalid_amount_text": N_("Enter an amount in yuan with at most two decimals, e.g. 1234.56."),
    "invalid_document": N_("Attach a PDF, JPEG or PNG document of at most 10 MB."),
    "document_not_found": N_("No such document."),
    "missing_document": N_("A claim needs at least one document."),
    "invalid_scenario_field": N_("A scenario value is out of its allowed range."),
    "invalid_month": N_("Enter a month as YYYY-MM."),
    # API keys and institutions
    "api_key_revoked": N_("The API key has been revoked."),
    "invalid_api_key": N_("The API key is not valid."),
    "missing_credentials": N_("No API key was sent."),
    "unknown_api_key": N_("No such API key."),
    "invalid_label": N_("The label is too long or has characters that cannot be printed."),
    "institution_exists": N_("An institution with this code exists with other data."),
    "invalid_institution_code": N_("A code is 1 to 32 letters, digits, '-' or '_'."),
    "invalid_institution_kind": N_("Unknown kind of institution."),
    "unknown_institution": N_("No such institution."),
    "wrong_institution_kind": N_("This institution is of the wrong kind for this."),
    "no_fund_manager": N_("There is no fund manager institution."),
    # registry
    "duplicate_contract": N_("This bank has already registered this contract number."),
    "ip_already_pledged": N_("This IP asset is pledged on a loan that is still open."),
    "loan_has_repayments": N_("A loan with repayments cannot be cancelled."),
    "loan_not_found": N_("No such loan."),
    "loan_not_open": N_("Repayments are recorded on active and claimed loans only."),
    "paid_before_drawdown": N_("A payment cannot be dated before the drawdown."),
    "repayment_exceeds_due": N_("The payment is more than the installment still owes."),
    "unknown_installment": N_("The loan has no installment due on that date."),
    "not_paid_in_full": N_("A loan is repaid only when every installment is paid in full."),
    "not_a_pilot_code": N_("This credit code passes its check: it needs no allowance."),
    "pilot_code_allowed": N_("This credit code is already allowed with another reason."),
    "invalid_coverage": N_("Unknown coverage."),
    "invalid_status": N_("Unknown status."),
    "invalid_after_id": N_("The page position is not valid."),
    "invalid_limit": N_("The page size is out of range."),
    "invalid_range": N_("The start date is after the end date."),
    "invalid_date": N_("Enter a date as YYYY-MM-DD."),
    "date_after_business_date": N_("The date is after the business date."),
    "dated_after_business_date": N_("The date is after the business date."),
    "bank_not_in_pool": N_("The bank has no pool agreement under this policy on the drawdown date."),
    "bank_suspended": N_("The bank is suspended from the pool."),
    # claims
    "claim_exists": N_("This loan already has an open claim."),
    "claim_not_found": N_("No such claim."),
    "invalid_claim_status": N_("The claim is not in a state that allows this action."),
    "loan_not_active": N_("Claims are filed on active loans only."),
    "loan_not_covered": N_("The loan has no covered principal: it cannot be claimed."),
    "loss_exceeds_outstanding": N_("The loss is more than the outstanding principal."),
    "loss_not_lowered": N_("The new loss must be below the claimed loss."),
    "negative_net": N_("The costs exceed the gross recovery."),
    "nothing_past_due": N_("The loan has no unpaid installment past due."),
    "policy_takes_no_claims": N_("This policy takes no claims."),
    "outside_claim_window": N_("The claim is outside the window the policy allows."),
    "claim_window_closed": N_("The claim is outside the window the policy allows."),
    "claim_too_early": N_("The claim is outside the window the policy allows."),
    "claim_too_late": N_("The claim is outside the window the policy allows."),
    "recovery_after_close": N_("A closed claim takes no recoveries."),
    # ledger and pools
    "amount_too_large": N_("The amount is more than 10^12 fen."),
    "empty_entry": N_("A journal entry needs two or more postings."),
    "invalid_amount": N_("The amount is not valid."),
    "invalid_cause": N_("Unknown journal cause."),
    "invalid_pool": N_("Unknown pool."),
    "unbalanced_entry": N_("The postings of an entry do not sum to zero."),
    "unknown_account": N_("No such account."),
    "duplicate_reference": N_("This document reference is already recorded."),
    # LPR and policies
    "lpr_checked_through_backwards": N_("The LPR table's checked-through date cannot move back."),
    "lpr_empty": N_("The LPR table is empty."),
    "lpr_exists": N_("An LPR publication with that date exists."),
    "lpr_invalid_rate": N_("LPR rates must be positive."),
    "lpr_no_checked_through": N_("The LPR file says through when it was checked."),
    "lpr_unsorted": N_("LPR publications must be in date order, once each."),
    "lpr_not_checked": N_("The LPR table is not checked through the date needed."),
    "unknown_policy": N_("No such policy."),
    "invalid_rate": N_("The rate is out of range."),
    # subsidies
    "month_after_business_date": N_("The month starts after the business date."),
    "month_before_latest_run": N_("The month is before the latest subsidy run."),
    "subsidy_run_not_found": N_("No subsidy run for that month."),
    "run_or_month": N_("Give a run or a month, not both."),
    "subsidy_run_exists": N_("This month's subsidy run already exists."),
    "invalid_format": N_("Unknown file format."),
    # stress
    "empty_book": N_("There are no live covered loans on that date."),
    "invalid_batch": N_("The batch size is out of range."),
    "invalid_fund_position": N_("Cash and deferred compensation cannot both be above zero."),
    "invalid_horizon": N_("The horizon is out of range (1 to 30 years)."),
    "invalid_scenario": N_("The scenario is not valid."),
    "invalid_scenarios": N_("The number of scenarios is out of range."),
    "invalid_workers": N_("The number of workers is out of range."),
    "stress_file_not_found": N_("This stress run has no such file."),
    "stress_queue_full": N_("Too many stress runs are queued; try again when one is done."),
    "stress_run_not_done": N_("This stress run has not finished."),
    "stress_run_not_found": N_("No such stress run."),
    "stress_too_large": N_("This stress run is too large for the machine."),
    "unknown_scenario": N_("No such scenario."),
    # demo and database
    "database_not_empty": N_("The database is not empty."),
    "demo_book_refused": N_("The demo book was refused."),
    "invalid_scale": N_("The scale is out of range."),
    "invalid_seed": N_("The seed is not valid."),
    "database_not_ready": N_("The database is not migrated to the current version."),
}

# Words the pages show for the stored codes (statuses, events, pools, kinds, reasons); templates
# translate them with ``_(code)``, so each is listed here for the catalogue.
VOCABULARY: dict[str, str] = {
    # loan and claim statuses, coverage
    "active": N_("active"), "repaid": N_("repaid"), "cancelled": N_("cancelled"), "claimed": N_("claimed"),
    "compensated": N_("compensated"), "closed": N_("closed"), "filed": N_("filed"), "approved": N_("approved"),
    "rejected": N_("rejected"), "withdrawn": N_("withdrawn"), "eligible": N_("eligible"), "ineligible": N_("ineligible"),
    # proposals
    "open": N_("open"), "executed": N_("executed"), "declined": N_("declined"),
    "claim_approval": N_("claim_approval"), "claim_rejection": N_("claim_rejection"), "subsidy_run": N_("subsidy_run"),
    "policy_activation": N_("policy_activation"), "lpr_publication": N_("lpr_publication"),
    "lpr_checked_through": N_("lpr_checked_through"), "pilot_code": N_("pilot_code"), "appropriation": N_("appropriation"),
    "appropriation_reversal": N_("appropriation_reversal"), "pool_agreement": N_("pool_agreement"),
    "suspension_lift": N_("suspension_lift"), "repayment_reversal": N_("repayment_reversal"),
    # pools and journal causes
    "compensation": N_("compensation"), "subsidy": N_("subsidy"), "claim_approval_entry": N_("claim_approval_entry"),
    "deferral_settlement": N_("deferral_settlement"), "recovery": N_("recovery"), "correction": N_("correction"),
    # claim and loan events
    "file": N_("file"), "lower": N_("lower"), "withdraw": N_("withdraw"), "approve": N_("approve"), "reject": N_("reject"),
    "close": N_("close"), "register": N_("register"), "cancel": N_("cancel"), "repay": N_("repay"), "claim": N_("claim"),
    "compensate": N_("compensate"), "recover": N_("recover"), "repaid_in_full": N_("repaid_in_full"),
    # schedule states
    "paid": N_("paid"), "past_due": N_("past_due"), "partly_paid": N_("partly_paid"), "not_yet_due": N_("not_yet_due"),
    # stress run statuses
    "queued": N_("queued"), "running": N_("running"), "done": N_("done"), "failed": N_("failed"),
    "refused": N_("refused"),
    # institution kinds
    "bank": N_("bank"), "insurer": N_("insurer"), "guarantor": N_("guarantor"), "appraiser": N_("appraiser"),
    "fund_manager": N_("fund_manager"), "auditor": N_("auditor"),
    # ineligibility reasons and flags (RULES C)
    "no_active_policy": N_("no_active_policy"), "not_sme": N_("not_sme"), "registered_too_recently": N_("registered_too_recently"),
    "bad_credit_record": N_("bad_credit_record"), "no_eligible_asset_in_force": N_("no_eligible_asset_in_force"),
    "borrower_quota_exhausted": N_("borrower_quota_exhausted"), "borrower_quota_limited": N_("borrower_quota_limited"),
    "pledge_rate_exceeded": N_("pledge_rate_exceeded"), "pilot_credit_code": N_("pilot_credit_code"),
    "bank_not_in_pool": N_("bank_not_in_pool"), "bank_suspended": N_("bank_suspended"),
    # proposal figures
    "fund_fen": N_("fund_fen"), "loss_fen": N_("loss_fen"), "base_fen": N_("base_fen"), "insurer_fen": N_("insurer_fen"),
    "appraiser_fen": N_("appraiser_fen"), "bank_fen": N_("bank_fen"), "fund_cut_fen": N_("fund_cut_fen"),
    "paid_fen": N_("paid_fen"), "deferred_fen": N_("deferred_fen"), "total_fen": N_("total_fen"), "amount_fen": N_("amount_fen"),
    # IP kinds
    "invention_patent": N_("invention_patent"), "utility_model": N_("utility_model"), "design_patent": N_("design_patent"),
    "trademark": N_("trademark"), "copyright": N_("copyright"), "software_copyright": N_("software_copyright"),
}

VOCABULARY.update({
    # sectors
    "next_generation_it": N_("next_generation_it"), "new_energy_vehicles": N_("new_energy_vehicles"),
    "biomedicine_health": N_("biomedicine_health"), "new_materials_chemicals": N_("new_materials_chemicals"),
    "rail_transit": N_("rail_transit"), "energy_environment": N_("energy_environment"),
    "intelligent_equipment": N_("intelligent_equipment"), "satellite_beidou": N_("satellite_beidou"), "other": N_("other"),
    # report sections and columns
    "by_coverage": N_("by_coverage"), "by_bank": N_("by_bank"), "by_sector": N_("by_sector"), "by_policy": N_("by_policy"),
    "by_status": N_("by_status"), "by_district": N_("by_district"), "by_ip_kind": N_("by_ip_kind"),
    "count": N_("count"), "name": N_("name"), "principal_fen": N_("principal_fen"), "covered_fen": N_("covered_fen"),
    "outstanding_fen": N_("outstanding_fen"), "loans": N_("loans"), "live_covered_fen": N_("live_covered_fen"),
    # legal status of IP
    "valid": N_("valid"), "pending": N_("pending"), "lapsed": N_("lapsed"), "invalidated": N_("invalidated"), "expired": N_("expired"),
})
