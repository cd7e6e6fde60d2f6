// A realistic estate: per-customer integration jobs across datacenters.
// Two Nomad executions (a periodic docker batch job, and one with a log-shipping sidecar) and five dimensions.
local customers = import './customers.libsonnet';

local nomad = {
  address: 'http://127.0.0.1:4646',
  namespace: 'default',
  region: 'global',
};

{
  executions: {
    integration: {
      name: 'Customer integration (periodic batch)',
      driver: 'nomad',
      driver_config: nomad,
      payload_template: importstr './templates/integration.jsonnet',
      default_params: {
        image: 'registry.example.com/integrations/runner',
        image_tag: '2.4.1',
        command: 'run-integration',
        args: [],
        'resources.cpu': 200,
        'resources.memory_mb': 256,
        'resources.memory_max_mb': 512,
        'schedule.cron': '0 3 * * *',
        'schedule.time_zone': 'UTC',
        'schedule.prohibit_overlap': true,
        'restart.attempts': 1,
        'restart.delay_s': 30,
        priority: 50,
        env: { LOG_FORMAT: 'json', HTTP_TIMEOUT_S: '60' },
        datacenters: ['dc1'],
        'kill_timeout_s': 30,
        'log.max_files': 5,
        'log.max_file_size_mb': 10,
        integration: 'sftp-import',
        'source.path': '/inbound',
        'target.api': 'https://api.example.com',
        batch_size: 500,
        dry_run: false,
        notify_email: 'ops@example.com',
      },
    },
    integration_with_shipper: {
      name: 'Customer integration with log shipper sidecar',
      driver: 'nomad',
      driver_config: nomad { job_prefix: 'striv-ship-' },
      payload_template: importstr './templates/integration_sidecar.jsonnet',
      default_params: {
        image: 'registry.example.com/integrations/runner',
        image_tag: '2.4.1',
        command: 'run-integration',
        args: [],
        'resources.cpu': 200,
        'resources.memory_mb': 256,
        'schedule.cron': '30 2 * * *',
        'schedule.time_zone': 'UTC',
        priority: 50,
        env: { LOG_FORMAT: 'json' },
        datacenters: ['dc1'],
        integration: 'api-export',
        'shipper.image': 'registry.example.com/tools/log-shipper:1.9',
        'shipper.endpoint': 'https://logs.example.com/ingest',
        'shipper.cpu': 50,
        'shipper.memory_mb': 64,
      },
    },
  },
  dimensions: {
    customer: {
      priority: 40,
      label: 'Customer',
      description: 'The customer the job works for.',
      values: customers,
    },
    service_level: {
      priority: 10,
      label: 'Service level',
      values: {
        enterprise: { params: { priority: 80, 'restart.attempts': 3, 'resources.memory_mb': 512, notify_email: 'enterprise-oncall@example.com' } },
        standard: { params: { priority: 50, 'restart.attempts': 2 } },
        basic: { params: { priority: 30, 'restart.attempts': 0, 'resources.cpu': 100 } },
      },
    },
    datacenter: {
      priority: 20,
      label: 'Datacenter',
      values: {
        [dc]: { params: { datacenters: [dc], env: { DATACENTER: dc } } }
        for dc in ['dc1', 'dc2', 'dc3']
      },
    },
    region: {
      priority: 15,
      label: 'Region',
      values: {
        eu: { params: { 'target.api': 'https://eu.api.example.com', env: { DATA_RESIDENCY: 'eu' }, 'schedule.time_zone': 'Europe/Stockholm' } },
        us: { params: { 'target.api': 'https://us.api.example.com', env: { DATA_RESIDENCY: 'us' }, 'schedule.time_zone': 'America/New_York' } },
        apac: { params: { 'target.api': 'https://apac.api.example.com', env: { DATA_RESIDENCY: 'apac' }, 'schedule.time_zone': 'Asia/Singapore' } },
      },
    },
    schedule_class: {
      priority: 30,
      label: 'Schedule',
      values: {
        hourly: { params: { 'schedule.cron': '15 * * * *', 'resources.cpu': 100 } },
        nightly: { params: { 'schedule.cron': '0 2 * * *' } },
        weekly: { params: { 'schedule.cron': '0 4 * * 1' } },
        month_end: { params: { 'schedule.cron': '0 5 L * *', 'resources.memory_mb': 1024 } },
      },
    },
  },
}
