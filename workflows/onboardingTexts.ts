/**
 * What the member reads (ganeti-member-vm-onboarding.txt): the banner of their jailed account, word for word from
 * the page, and the mails with the page's information ($REF_ABO, $IP_VM, $NOM_VM, $HYP, $VNC_PORT) and the tunnel
 * command. Pure code: the workflow builds them from what the run found.
 */

export interface VmFacts {
  ref: string;
  user: string;
  ip: string;
  dnsName: string;
  hypervisor: string;
  vncPort: number;
}

/** `ssh -N -L PORT:localhost:PORT USER@HYP`: the page's command, with the jailed account's name (its only login). */
export const tunnelCommand = (f: VmFacts) => `ssh -N -L ${f.vncPort}:localhost:${f.vncPort} ${f.user}@${f.hypervisor}`;

/** The page's /home/$REF_ABO/banner. */
export function bannerText(f: VmFacts): string {
  return [
    `Hyperviseur hébergeant votre VM : ${f.hypervisor}`,
    `Port VNC pour accéder à votre VM : ${f.vncPort}`,
    'Utilisez la commande suivante pour créer un tunnel entre votre ordinateur et le port VNC de votre VM avec la commande :',
    `ssh -N -L ${f.vncPort}:localhost:${f.vncPort} ${f.hypervisor}`,
    `Configurez votre client VNC pour qu'il se connecte sur l'hôte (/host/) localhost et sur le port ${f.vncPort}.`,
    `Par exemple : vncviewer localhost:${f.vncPort}`,
    '',
  ].join('\n');
}

/** "Prévenir l'adhérent que la VM est prête à être installée" with the page's values. */
export function readyMail(name: string, f: VmFacts, runId: string): { subject: string; text: string } {
  return {
    subject: `Votre VM ${f.ref} est prête à être installée`,
    text: [
      `Bonjour ${name},`,
      '',
      'Votre VM est créée et démarre sur l\'ISO d\'installation (une Debian). Voici ses informations :',
      '',
      `  REF_ABO  (référence de votre abonnement) : ${f.ref}`,
      `  IP_VM    (adresse IP de votre VM)         : ${f.ip}`,
      `  NOM_VM   (nom DNS de votre VM)            : ${f.dnsName}`,
      `  HYP      (hyperviseur de votre VM)        : ${f.hypervisor}`,
      `  VNC_PORT (port VNC de votre VM)           : ${f.vncPort}`,
      '',
      'Pour accéder à l\'écran de votre VM, établissez un tunnel SSH entre votre ordinateur et l\'hyperviseur',
      '(avec la clé SSH que vous nous avez envoyée ; ce compte ne sert qu\'à ce tunnel) :',
      '',
      `  ${tunnelCommand(f)}`,
      '',
      `puis connectez votre client VNC sur l'hôte localhost, port ${f.vncPort} (par exemple : vncviewer localhost:${f.vncPort}).`,
      '',
      'Quand l\'installation est terminée, répondez à ce mail (ou écrivez à adminsys@ en précisant votre',
      `${f.ref}) : nous configurerons votre VM pour qu'elle démarre sur son disque au lieu de l'ISO d'installation.`,
      '',
      `(run ${runId})`,
    ].join('\n'),
  };
}

export function reminderMail(name: string, f: VmFacts, since: string): { subject: string; text: string } {
  return {
    subject: `Rappel : l'installation de votre VM ${f.ref}`,
    text: [
      `Bonjour ${name},`,
      '',
      `Votre VM ${f.ref} attend son installation depuis le ${since}. Quand elle est terminée, répondez à ce mail :`,
      'nous la ferons démarrer sur son disque. Pour y accéder :',
      '',
      `  ${tunnelCommand(f)}`,
      `  puis VNC sur localhost:${f.vncPort}`,
    ].join('\n'),
  };
}

export function bootsFromDiskMail(name: string, f: VmFacts): { subject: string; text: string } {
  return {
    subject: `Votre VM ${f.ref} démarre maintenant sur son disque`,
    text: [
      `Bonjour ${name},`,
      '',
      `Votre VM ${f.ref} (${f.dnsName}, ${f.ip}) a été redémarrée et démarre maintenant sur votre disque.`,
      'Vous pouvez vous y connecter de la même façon que pour l\'installation (ssh + VNC) :',
      '',
      `  ${tunnelCommand(f)}`,
      '',
      `puis, une fois openssh-server installé sur votre VM : ssh ${f.ref}@${f.ip}`,
      'L\'accès VNC reste en place pour vous dépanner si besoin.',
    ].join('\n'),
  };
}

/** After "La migration d'une VM": the new hypervisor and its tunnel command (the VNC port stays). */
export function movedMail(name: string, f: VmFacts, from: string): { subject: string; text: string } {
  return {
    subject: `Votre VM ${f.ref} a changé d'hyperviseur`,
    text: [
      `Bonjour ${name},`,
      '',
      `Votre VM ${f.ref} (${f.dnsName}, ${f.ip}) tourne maintenant sur l'hyperviseur ${f.hypervisor} (avant : ${from}).`,
      `Son port VNC reste le ${f.vncPort}. Pour accéder à son écran, le tunnel passe désormais par ${f.hypervisor} :`,
      '',
      `  ${tunnelCommand(f)}`,
      '',
      `puis connectez votre client VNC sur l'hôte localhost, port ${f.vncPort}.`,
    ].join('\n'),
  };
}
