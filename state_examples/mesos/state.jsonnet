// Reports on Apache Mesos through the Rhythm cron framework, beside a Nomad execution of the same jobs.
// Rhythm's cron has exactly 5 fields (day of week 0-6) and runs in the Rhythm server's zone (time_zone below).
local defaults = {
  image: 'registry.example.com/reports/runner',
  image_tag: '1.2.0',
  command: 'make-report',
  args: [],
  user: 'reports',
  'resources.cpus': 0.5,
  'resources.mem_mb': 256,
  'schedule.cron': '0 4 * * *',
  max_retries: 1,
  env: { LOG_FORMAT: 'json' },
  team: 'analytics',
  report: 'sales',
};

{
  executions: {
    reports_mesos: {
      name: 'Reports on Mesos (Rhythm)',
      driver: 'mesos',
      driver_config: {
        rhythm_url: 'http://127.0.0.1:8100',  // Rhythm's own default is :8000, where striv's make run serves
        group: 'analytics',
        project: 'reports',
        auth: 'none',
        mesos_master_url: 'http://127.0.0.1:5050',
        time_zone: 'UTC',
      },
      payload_template: importstr './templates/rhythm_job.jsonnet',
      default_params: defaults,
    },
    reports_nomad: {
      name: 'Reports on Nomad',
      driver: 'nomad',
      driver_config: { address: 'http://127.0.0.1:4646' },
      payload_template: |||
        {
          Type: 'batch',
          Periodic: { Spec: params.schedule.cron, TimeZone: 'UTC' },
          TaskGroups: [{ Name: 'main', Tasks: [{ Name: 'report', Driver: 'docker',
            Config: { image: params.image + ':' + params.image_tag, command: params.command, args: params.args },
            Env: params.env { REPORT: params.report } }] }],
        }
      |||,
      default_params: defaults,
    },
  },
  dimensions: {
    report: {
      priority: 10,
      label: 'Report',
      values: {
        sales: { params: { report: 'sales' } },
        stock: { params: { report: 'stock', 'schedule.cron': '30 5 * * 1-5', 'resources.mem_mb': 512 } },
      },
    },
  },
}
