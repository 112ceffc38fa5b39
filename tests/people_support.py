"""Shared by tests that need named people: a cheap password hasher (argon2 with minimal cost, so a test
signs in many times in milliseconds) and the fund manager's staff of the test institutions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from fund.adapters.models.registry import Institution
from fund.services import people
from fund.services.registry import Actor

PASSWORD = "correct horse battery staple"
# login: (institution, roles)
STAFF = {
    "fm.officer": ("FM", ("officer",)),
    "fm.officer2": ("FM", ("officer",)),
    "fm.approver": ("FM", ("approver",)),
    "fm.approver2": ("FM", ("approver",)),
    "fm.admin": ("FM", ("admin",)),
    "bank1.staff": ("BANK1", ("staff",)),
    "aud.reader": ("AUD", ("reader",)),
}


def cheap_hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),))


@pytest.fixture
def fast_passwords():
    previous = people.use_hasher(cheap_hasher())
    yield
    people.use_hasher(previous)


@dataclass(frozen=True)
class Staff:
    actors: dict[str, Actor]

    def __getitem__(self, login: str) -> Actor:
        return self.actors[login]


def add_staff(session: Session, staff: dict[str, tuple[str, tuple[str, ...]]] = STAFF) -> Staff:
    """The people of ``staff`` (test institutions must exist), as actors, password ``PASSWORD``."""
    out = {}
    for login, (code, roles) in staff.items():
        inst = session.scalar(select(Institution).where(Institution.code == code))
        out[login] = people.person_actor(people.create_person(session, inst, login, login.replace(".", " ").title(), roles, PASSWORD))
    return Staff(out)
