"""HTTP routes for this area (filled in by the owner of this module); included by syncworker.http.app."""

from fastapi import APIRouter

router = APIRouter()
