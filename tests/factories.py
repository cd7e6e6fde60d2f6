"""factory_boy factories for striv's models."""

import factory

from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution
from striv.jobs.models import Job

SIMPLE_TEMPLATE = """{
  Type: 'batch',
  Datacenters: ['dc1'],
  Periodic: { Spec: params.cron },
  TaskGroups: [{ Name: 'main', Tasks: [{ Name: 'run', Driver: 'docker',
    Config: { image: params.image, args: [params.greeting] }, Env: params.env }] }],
}"""


class ExecutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Execution
        django_get_or_create = ["key"]

    key = factory.Sequence(lambda n: f"exec{n}")
    name = factory.LazyAttribute(lambda o: f"Execution {o.key}")
    driver = "nomad"
    driver_config = factory.LazyFunction(lambda: {"address": "http://127.0.0.1:4646"})
    default_params = factory.LazyFunction(
        lambda: {"cron": "0 3 * * *", "image": "alpine:3.20", "greeting": "hello", "env": {"A": "1"}}
    )
    payload_template = SIMPLE_TEMPLATE


class DimensionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dimension
        django_get_or_create = ["key"]

    key = factory.Sequence(lambda n: f"dim{n}")
    priority = factory.Sequence(lambda n: n)


class DimensionValueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DimensionValue

    dimension = factory.SubFactory(DimensionFactory)
    key = factory.Sequence(lambda n: f"value{n}")
    params = factory.LazyFunction(dict)


class JobFactory(factory.django.DjangoModelFactory):
    """A bare job row; use striv.jobs.services.job_create for a rendered one."""

    class Meta:
        model = Job

    name = factory.Sequence(lambda n: f"job {n}")
    execution = factory.SubFactory(ExecutionFactory)
    params = factory.LazyFunction(dict)


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "runs.Run"

    job = factory.SubFactory(JobFactory)
    external_id = factory.Sequence(lambda n: f"{n:08x}-0000-4000-8000-000000000000")
    status = "successful"
    created = factory.LazyFunction(__import__("django.utils.timezone", fromlist=["now"]).now)
    tasks = factory.LazyFunction(lambda: [{"name": "run", "state": "dead", "failed": False, "exit_code": 0}])


#: The password of every user the factories make.
PASSWORD = "correct horse battery"


class UserFactory(factory.django.DjangoModelFactory):
    """A user with `PASSWORD`; ``role=`` adds it to that role's group (made when missing: transactional tests
    flush the groups the migrations create)."""

    class Meta:
        model = "auth.User"
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(user, create: bool, role: str | None, **kwargs: object) -> None:
        if create and role:
            from django.contrib.auth.models import Group

            user.groups.add(Group.objects.get_or_create(name=role)[0])


def make_user(username: str, role: str | None = None, **fields: object):
    """A saved user named ``username`` with `PASSWORD`, in ``role``'s group when given; ``fields`` set the rest."""
    return UserFactory(username=username, role=role, **fields)
