// The getting-started state: one execution that greets an audience every minute on a local Nomad.
// Written in the original striv format (nomad_url, logstore), which loads unchanged.
{
  executions: {
    hello_world: {
      name: 'Hello World',
      driver: 'nomad',
      logstore: 'nomad',
      driver_config: {
        nomad_url: 'http://127.0.0.1:4646',
      },
      payload_template: importstr './nomad_job.jsonnet',
      default_params: {
        greeting: 'World',
      },
    },
  },
  dimensions: {
    audience: {
      priority: 1,
      values: {
        world: { params: { greeting: 'Terra' } },
        moon: { params: { greeting: 'Luna' } },
      },
    },
  },
}
