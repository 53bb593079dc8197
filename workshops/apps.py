from django.apps import AppConfig


class WorkshopsConfig(AppConfig):
    name = "workshops"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from sessions import pools, recordings
        from workshops import dashboard, pooling
        from workshops.models import Workshop

        # Sessions know nothing of workshops: they ask these hooks which pools to keep, which recordings to keep.
        pools.register(pooling.specs)
        recordings.keep_when(pooling.kept)
        # However a workshop goes (its page, the admin, its trainer's account deleted and the workshop with it),
        # its learners' sessions end and their recordings go first.
        pre_delete.connect(dashboard.tear_down_deleted, sender=Workshop, dispatch_uid="workshops.teardown")
