// A Rhythm cron job on Apache Mesos, in Rhythm's own keys (its create-job body without group, project and id,
// which striv sets from the execution and the job).
{
  schedule: { cron: params.schedule.cron },
  container: { docker: { image: params.image + ':' + params.image_tag, forcepullimage: false } },
  cmd: std.join(' ', [params.command] + params.args),
  shell: true,
  user: params.user,
  cpus: params.resources.cpus,
  mem: params.resources.mem_mb,
  disk: 0,
  maxretries: params.max_retries,
  env: params.env { REPORT: params.report },
  secrets: { DB_PASSWORD: 'db/password' },
  labels: { team: params.team },
}
