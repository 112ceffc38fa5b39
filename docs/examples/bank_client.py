"""A bank's system registering a loan and recording a repayment through the ipfund API.

Run it against `make run` with a bank's key (`ipfund keys create --institution ICBC-GZ`):

    IPFUND_KEY=ipf_... python docs/examples/bank_client.py http://127.0.0.1:8000 loan.json

`loan.json` is a registration body (the OpenAPI document at /schema shows one); a loan may be
registered once per contract number and a patent pledged on one open loan at a time.
"""

import json
import os
import sys
import uuid

import httpx


def register_and_repay(http: httpx.Client, api_key: str, loan: dict) -> dict:
    """Register ``loan``, pay the interest of its first installment, and return the loan as read back."""
    auth = {"Authorization": f"Bearer {api_key}"}

    def post(path: str, body: dict) -> dict:
        # One Idempotency-Key per request: resending the same request with the same key after a
        # timeout or a crash is safe (the first answer comes back with Idempotent-Replayed: true).
        answer = http.post(path, json=body, headers={**auth, "Idempotency-Key": str(uuid.uuid4())})
        if answer.status_code >= 400:
            problem = answer.json()  # RFC 9457 problem details; every code is listed at /docs/errors
            raise RuntimeError(f"{answer.status_code} {problem['code']} at {problem['field']}: {problem['detail']}")
        return answer.json()

    registered = post("/api/v1/loans", loan)
    print(f"loan {registered['id']}: {registered['coverage']}, covered {registered['covered_fen'] / 100:,.2f} yuan")
    first = registered["schedule"][0]
    repayment = post(f"/api/v1/loans/{registered['id']}/repayments", {
        "due_date": first["due_date"], "paid_on": first["due_date"],
        "principal_fen": first["principal_due_fen"], "interest_fen": first["interest_due_fen"],
    })
    print(f"repayment {repayment['id']} recorded; the loan is {repayment['loan_status']}")
    return http.get(f"/api/v1/loans/{registered['id']}", headers=auth).json()


if __name__ == "__main__":
    base_url, loan_file = sys.argv[1], sys.argv[2]
    with httpx.Client(base_url=base_url, timeout=30) as http, open(loan_file, encoding="utf-8") as f:
        register_and_repay(http, os.environ["IPFUND_KEY"], json.load(f))
