// A periodic docker batch job running one customer's integration.
local task(params) = {
  Name: 'integration',
  Driver: 'docker',
  Config: {
    image: params.image + ':' + params.image_tag,
    command: params.command,
    args: params.args + ['--integration', params.integration, '--batch-size', std.toString(params.batch_size)]
          + (if params.dry_run then ['--dry-run'] else []),
  },
  Env: params.env {
    CUSTOMER_ID: std.get(params, 'customer_id', ''),
    SOURCE_HOST: std.get(params.source, 'host', ''),
    SOURCE_USER: std.get(params.source, 'user', ''),
    SOURCE_PATH: params.source.path,
    TARGET_API: params.target.api,
    TARGET_TENANT: std.get(params.target, 'tenant', ''),
    NOTIFY_EMAIL: params.notify_email,
  },
  Resources: {
    CPU: params.resources.cpu,
    MemoryMB: params.resources.memory_mb,
    MemoryMaxMB: params.resources.memory_max_mb,
  },
  KillTimeout: params.kill_timeout_s * 1000000000,
  LogConfig: { MaxFiles: params.log.max_files, MaxFileSizeMB: params.log.max_file_size_mb },
};

{
  Type: 'batch',
  Priority: params.priority,
  Datacenters: params.datacenters,
  Periodic: {
    Enabled: true,
    Spec: params.schedule.cron,
    TimeZone: params.schedule.time_zone,
    ProhibitOverlap: params.schedule.prohibit_overlap,
  },
  TaskGroups: [
    {
      Name: 'integration',
      Count: 1,
      RestartPolicy: {
        Attempts: params.restart.attempts,
        Delay: params.restart.delay_s * 1000000000,
        Mode: 'fail',
      },
      Tasks: [task(params)],
    },
  ],
}
