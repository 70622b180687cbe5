"""``client.game``: one method per SQL function of the game schema.

Idempotent calls are retried on transient failures (serialization failures, deadlocks, dropped
connections) with exponential backoff and a limit; the others are not."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from .errors import CdlstoreError

if TYPE_CHECKING:
    from .client import Client

T = TypeVar("T")
TRANSIENT = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, psycopg.OperationalError)


def retrying(call: Callable[[], T], attempts: int = 5, base_delay: float = 0.05) -> T:
    """Run an idempotent call, retrying transient failures: 0.05 s, 0.1 s, 0.2 s ... with jitter."""
    for attempt in range(attempts):
        try:
            return call()
        except CdlstoreError as exc:
            if attempt == attempts - 1 or not isinstance(exc.__cause__, TRANSIENT):
                raise
        time.sleep(base_delay * 2**attempt * (0.5 + random.random()))  # noqa: S311 - jitter only
    raise AssertionError("unreachable")


class Game:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _call(self, function: str, params: dict[str, Any]) -> Any:
        return self._client._call(f"game.{function}", params)

    def create_account(
        self, email: str, display_name: str | None = None, external_id: str | None = None
    ) -> int:
        return int(
            self._call(
                "create_account",
                {"email": email, "display_name": display_name, "external_id": external_id},
            )
        )

    def create_profile(
        self,
        account_id: int,
        name: str,
        age_group: str | None = None,
        avatar: str | None = None,
        preferences: dict[str, Any] | None = None,
        external_id: str | None = None,
    ) -> int:
        return int(
            self._call(
                "create_profile",
                {
                    "account_id": account_id,
                    "name": name,
                    "age_group": age_group,
                    "avatar": avatar,
                    "preferences": Jsonb(preferences or {}),
                    "external_id": external_id,
                },
            )
        )

    def start_session(self, profile_id: int, scenario_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "start_game_session", {"profile_id": profile_id, "scenario_id": scenario_id}
        )
        return result

    def record_choice(
        self,
        session_id: int,
        expected_version: int,
        scene_id: str,
        choice: str,
        compass_deltas: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Not retried: after a dropped connection it may have happened (then Conflict says so)."""
        result: dict[str, Any] = self._call(
            "record_scene_choice",
            {
                "session_id": session_id,
                "expected_version": expected_version,
                "scene_id": scene_id,
                "choice": choice,
                "compass_deltas": Jsonb(compass_deltas or {}),
            },
        )
        return result

    def complete_session(
        self, session_id: int, expected_version: int | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "complete_game_session",
            {"session_id": session_id, "expected_version": expected_version},
        )
        return result

    def abandon_session(
        self, session_id: int, expected_version: int | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "abandon_game_session", {"session_id": session_id, "expected_version": expected_version}
        )
        return result

    def get_session(self, session_id: int) -> dict[str, Any]:
        result: dict[str, Any] = retrying(
            lambda: self._call("get_game_session", {"session_id": session_id})
        )
        return result

    def award_badge(self, profile_id: int, badge: str, axis: str | None = None) -> bool:
        return bool(
            retrying(
                lambda: self._call(
                    "award_badge", {"profile_id": profile_id, "badge": badge, "axis": axis}
                )
            )
        )

    def compass_totals(self, profile_id: int) -> dict[str, float]:
        result: dict[str, float] = retrying(
            lambda: self._call("get_profile_compass_totals", {"profile_id": profile_id})
        )
        return result

    def leaderboard(self, scenario_id: str, axis: str, limit: int = 10) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = retrying(
            lambda: self._call(
                "get_scenario_leaderboard",
                {"scenario_id": scenario_id, "axis": axis, "max_rows": limit},
            )
        )
        return result

    def import_documents(self, container: str, documents: list[Any]) -> dict[str, Any]:
        """Upsert exported documents (idempotent, so retried); a report per document."""
        result: dict[str, Any] = retrying(
            lambda: self._call(
                "import_documents", {"container": container, "documents": Jsonb(documents)}
            )
        )
        return result

    def compare(self, container: str) -> dict[str, Any]:
        result: dict[str, Any] = retrying(
            lambda: self._call("compare_with_documents", {"container": container})
        )
        return result
