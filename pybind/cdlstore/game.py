"""``client.game``: one method per SQL function of the game schema.

Idempotent calls are retried on transient failures (:func:`cdlstore.errors.retry_transient`:
serialization failures, deadlocks, lost connections) with exponential backoff and a limit; the
others are not."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from .domain import Domain, M, method
from .errors import retry_transient
from .models import (
    Comparison,
    CompassTotals,
    GameSession,
    ImportReport,
    LeaderboardEntry,
)


class Game(Domain[M]):
    @method
    async def create_account(
        self, email: str, display_name: str | None = None, external_id: str | None = None
    ) -> int:
        return int(
            await self._call(
                "game.create_account",
                email=email,
                display_name=display_name,
                external_id=external_id,
            )
        )

    @method
    async def create_profile(
        self,
        account_id: int,
        name: str,
        age_group: str | None = None,
        avatar: str | None = None,
        preferences: dict[str, Any] | None = None,
        external_id: str | None = None,
    ) -> int:
        return int(
            await self._call(
                "game.create_profile",
                account_id=account_id,
                name=name,
                age_group=age_group,
                avatar=avatar,
                preferences=Jsonb(preferences or {}),
                external_id=external_id,
            )
        )

    @method
    async def start_game_session(self, profile_id: int, scenario_id: str) -> GameSession:
        return GameSession.model_validate(
            await self._call(
                "game.start_game_session", profile_id=profile_id, scenario_id=scenario_id
            )
        )

    @method
    async def record_scene_choice(
        self,
        session_id: int,
        expected_version: int,
        scene_id: str,
        choice: str,
        compass_deltas: dict[str, float] | None = None,
    ) -> GameSession:
        """Not retried: after a lost connection it may have happened (then Conflict says so)."""
        return GameSession.model_validate(
            await self._call(
                "game.record_scene_choice",
                session_id=session_id,
                expected_version=expected_version,
                scene_id=scene_id,
                choice=choice,
                compass_deltas=Jsonb(compass_deltas or {}),
            )
        )

    @method
    async def complete_game_session(
        self, session_id: int, expected_version: int | None = None
    ) -> GameSession:
        return GameSession.model_validate(
            await self._call(
                "game.complete_game_session",
                session_id=session_id,
                expected_version=expected_version,
            )
        )

    @method
    async def abandon_game_session(
        self, session_id: int, expected_version: int | None = None
    ) -> GameSession:
        return GameSession.model_validate(
            await self._call(
                "game.abandon_game_session",
                session_id=session_id,
                expected_version=expected_version,
            )
        )

    @method
    @retry_transient()
    async def get_game_session(self, session_id: int) -> GameSession:
        return GameSession.model_validate(
            await self._call("game.get_game_session", session_id=session_id)
        )

    @method
    @retry_transient()
    async def award_badge(self, profile_id: int, badge: str, axis: str | None = None) -> bool:
        return bool(
            await self._call("game.award_badge", profile_id=profile_id, badge=badge, axis=axis)
        )

    @method
    @retry_transient()
    async def get_profile_compass_totals(self, profile_id: int) -> CompassTotals:
        return CompassTotals.model_validate(
            await self._call("game.get_profile_compass_totals", profile_id=profile_id)
        )

    @method
    @retry_transient()
    async def get_scenario_leaderboard(
        self, scenario_id: str, axis: str, max_rows: int = 10
    ) -> list[LeaderboardEntry]:
        rows = await self._call(
            "game.get_scenario_leaderboard", scenario_id=scenario_id, axis=axis, max_rows=max_rows
        )
        return [LeaderboardEntry.model_validate(r) for r in rows]

    @method
    @retry_transient()
    async def import_documents(self, container: str, documents: list[Any]) -> ImportReport:
        """Upsert exported documents (idempotent, so retried); a report per document."""
        return ImportReport.model_validate(
            await self._call(
                "game.import_documents", container=container, documents=Jsonb(documents)
            )
        )

    @method
    @retry_transient()
    async def compare_with_documents(self, container: str) -> Comparison:
        return Comparison.model_validate(
            await self._call("game.compare_with_documents", container=container)
        )
