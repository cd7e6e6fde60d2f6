// A periodic batch job whose integration task is accompanied by a log-shipping sidecar.
{
  Type: 'batch',
  Priority: params.priority,
  Datacenters: params.datacenters,
  Periodic: {
    Spec: params.schedule.cron,
    TimeZone: params.schedule.time_zone,
    ProhibitOverlap: true,
  },
  TaskGroups: [
    {
      Name: 'integration',
      Count: 1,
      Tasks: [
        {
          Name: 'integration',
          Driver: 'docker',
          Config: {
            image: params.image + ':' + params.image_tag,
            command: params.command,
            args: params.args + ['--integration', params.integration],
          },
          Env: params.env { CUSTOMER_ID: std.get(params, 'customer_id', '') },
          Resources: { CPU: params.resources.cpu, MemoryMB: params.resources.memory_mb },
        },
        {
          Name: 'log-shipper',
          Driver: 'docker',
          Lifecycle: { Hook: 'poststart', Sidecar: true },
          Config: {
            image: params.shipper.image,
            args: ['--endpoint', params.shipper.endpoint, '--tag', std.get(params, 'customer_id', 'unknown')],
          },
          Resources: { CPU: params.shipper.cpu, MemoryMB: params.shipper.memory_mb },
        },
      ],
    },
  ],
}
