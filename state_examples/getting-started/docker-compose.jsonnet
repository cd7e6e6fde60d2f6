// The getting-started state as docker-compose.yml loads it: Nomad is reachable as the `nomad` service.
local base = import './hello-world.jsonnet';

base {
  executions+: {
    hello_world+: {
      driver_config: { address: 'http://nomad:4646' },
    },
  },
}
