"""The Celery app of ``lq worker`` (``celery -A lq_assets.celery_app``): dagster-celery's step task,
with the broker, result backend and settings of the distributed profile read from the environment
(``lq_assets.profile``), so no URL is written to a config file."""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from lq_assets.profile import CELERY_CONFIG_SOURCE, backend_url, broker_url

app = make_app({"broker": broker_url(), "backend": backend_url(), "config_source": CELERY_CONFIG_SOURCE})

execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
