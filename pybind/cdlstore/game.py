"""``client.game``: one method per SQL function of the game schema.

Idempotent calls are retried on transient failures (serialization failures, deadlocks, dropped
connections) with exponential backoff and a limit; the others are not."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from .domain import Domain, M, method, retrying

__all__ = ["Game", "retrying"]


class Game(Domain[M]):
    async def _call(self, function: str, params: dict[str, Any]) -> Any:
        return await self._client._call(f"game.{function}", params)

    @method
    async def create_account(
        self, email: str, display_name: str | None = None, external_id: str | None = None
    ) -> int:
        return int(
            await self._call(
                "create_account",
                {"email": email, "display_name": display_name, "external_id": external_id},
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

    @method
    async def start_session(self, profile_id: int, scenario_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "start_game_session", {"profile_id": profile_id, "scenario_id": scenario_id}
        )
        return result

    @method
    async def record_choice(
        self,
        session_id: int,
        expected_version: int,
        scene_id: str,
        choice: str,
        compass_deltas: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Not retried: after a dropped connection it may have happened (then Conflict says so)."""
        result: dict[str, Any] = await self._call(
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

    @method
    async def complete_session(
        self, session_id: int, expected_version: int | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "complete_game_session",
            {"session_id": session_id, "expected_version": expected_version},
        )
        return result

    @method
    async def abandon_session(
        self, session_id: int, expected_version: int | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "abandon_game_session", {"session_id": session_id, "expected_version": expected_version}
        )
        return result

    @method
    async def get_session(self, session_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await retrying(
            self._client, lambda: self._call("get_game_session", {"session_id": session_id})
        )
        return result

    @method
    async def award_badge(self, profile_id: int, badge: str, axis: str | None = None) -> bool:
        return bool(
            await retrying(
                self._client,
                lambda: self._call(
                    "award_badge", {"profile_id": profile_id, "badge": badge, "axis": axis}
                ),
            )
        )

    @method
    async def compass_totals(self, profile_id: int) -> dict[str, float]:
        result: dict[str, float] = await retrying(
            self._client,
            lambda: self._call("get_profile_compass_totals", {"profile_id": profile_id}),
        )
        return result

    @method
    async def leaderboard(
        self, scenario_id: str, axis: str, limit: int = 10
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await retrying(
            self._client,
            lambda: self._call(
                "get_scenario_leaderboard",
                {"scenario_id": scenario_id, "axis": axis, "max_rows": limit},
            ),
        )
        return result

    @method
    async def import_documents(self, container: str, documents: list[Any]) -> dict[str, Any]:
        """Upsert exported documents (idempotent, so retried); a report per document."""
        result: dict[str, Any] = await retrying(
            self._client,
            lambda: self._call(
                "import_documents", {"container": container, "documents": Jsonb(documents)}
            ),
        )
        return result

    @method
    async def compare(self, container: str) -> dict[str, Any]:
        result: dict[str, Any] = await retrying(
            self._client, lambda: self._call("compare_with_documents", {"container": container})
        )
        return result
