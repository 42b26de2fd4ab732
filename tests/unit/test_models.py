"""Model metadata rules that keep migrations portable."""

from tortoise import Tortoise

from server.db import MODEL_MODULES


async def test_model_descriptions_have_no_semicolons():
    """tortoise 1.1.9 splits SQLite migration SQL on ';', so a comment with one breaks it."""
    await Tortoise.init(db_url="sqlite://:memory:", modules={"models": MODEL_MODULES})
    try:
        for model in Tortoise.apps["models"].values():
            assert ";" not in (model._meta.table_description or ""), model.__name__
            for name, field in model._meta.fields_map.items():
                assert ";" not in (field.description or ""), f"{model.__name__}.{name}"
    finally:
        await Tortoise.close_connections()
