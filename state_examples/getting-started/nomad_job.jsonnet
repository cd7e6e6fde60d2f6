// A Nomad job in JSON form, expressed in jsonnet; `params` holds the merged params of the job.
// The driver sets ID, Name and Meta and wraps it as {"Job": ...}.
{
  Type: 'batch',
  Datacenters: ['dc1'],
  Periodic: {
    // Six fields are Nomad's minute..year form: every minute.
    Spec: '*/1 * * * * *',
    ProhibitOverlap: true,
  },
  TaskGroups: [
    {
      Count: 1,
      Name: 'greeter',
      Tasks: [
        {
          Name: 'greeter',
          Driver: 'docker',
          Config: {
            image: 'alpine:3.20',
            command: '/bin/sh',
            args: ['-c', 'echo Hello ' + params.greeting],
          },
          Resources: { CPU: 100, MemoryMB: 64 },
        },
      ],
    },
  ],
}
